"""`make bench`: the pipeline measured against its floor and against the naive design, side by side.

Everything runs natively on this machine: the local PostgreSQL and RabbitMQ, real worker processes,
gunicorn, nginx and wrk, and the Open-Meteo stand-in in a process of its own. Figures are reported as
ratios to baselines measured in the same run, because the machine is shared and noisy.
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "server"), str(REPO)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
import bench.settings  # noqa: E402,F401  (sets the environment before Django reads it)
from bench import quota  # noqa: E402
from tests.polling import stop, wait_for  # noqa: E402
from tests.stack.stack import TEST_APP_IMAGE  # noqa: E402

OUT = REPO / "build" / "bench"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "server"), str(REPO)])}
STUB_PORT = int(os.environ["FBRAIN_TEST_STUB_PORT"])
STUB = f"http://127.0.0.1:{STUB_PORT}"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- set-up -------------------------------------------------------------------------------------


def prepare_database() -> None:
    import psycopg

    name = os.environ["POSTGRES_DB"]
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def reset_data() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE weather_weatherdata, weather_etlrow, weather_pipelinerun, weather_city, "
            "django_celery_results_taskresult, django_celery_results_chordcounter CASCADE"
        )


def seed_cities(count: int) -> list[int]:
    from weather.models import City

    reset_data()
    cities = City.objects.bulk_create(
        (
            City(
                name=f"Bench {i}",
                country="ZZ",
                latitude=-60 + (i * 0.0137) % 120,
                longitude=-170 + (i * 0.0291) % 340,
            )
            for i in range(count)
        ),
        batch_size=2000,
    )
    return [city.id for city in cities]


def stub_config(**config) -> None:
    request = urllib.request.Request(f"{STUB}/_stub/config", data=json.dumps(config).encode(), method="POST")
    urllib.request.urlopen(request, timeout=5).read()


def stub_stats() -> dict:
    return json.loads(urllib.request.urlopen(f"{STUB}/_stub/stats", timeout=5).read())


@contextmanager
def process(args: list[str], *, name: str, ready=None, cwd: Path = REPO / "server", env: dict | None = None):
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / f"{name}.log").open("w") as logfile:
        proc = subprocess.Popen(
            args, cwd=cwd, env={**ENV, **(env or {})}, stdout=logfile, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            while ready is not None and not ready():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start; see {OUT / name}.log")
                time.sleep(0.2)
            yield proc
        finally:
            stop(proc, timeout=60)


def stub_process():
    def ready():
        try:
            return urllib.request.urlopen(f"{STUB}/_stub/health", timeout=1).status == 200
        except OSError:
            return False

    args = [sys.executable, "-m", "tests.openmeteo_stub", "--port", str(STUB_PORT), "--quiet"]
    return process(args, name="stub", ready=ready, cwd=REPO)


def worker_process(concurrency: int):
    from server_config.celery import app

    hostname = f"bench-{concurrency}-{uuid.uuid4().hex[:6]}@localhost"
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "server_config",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        f"--hostname={hostname}",
        "-Q",
        os.environ["CELERY_TASK_DEFAULT_QUEUE"],
        "-I",
        "bench.naive",
        "--without-gossip",
        "--without-mingle",
    ]
    return process(
        args, name=f"worker-{concurrency}", ready=lambda: app.control.ping([hostname], timeout=0.5)
    )


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (the worker's pool), in KiB."""
    pids = [
        pid,
        *map(int, subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()),
    ]
    total = 0
    for p in pids:
        status = Path(f"/proc/{p}/status")
        if status.exists():
            total += int(re.search(r"VmRSS:\s+(\d+)", status.read_text()).group(1))
    return total


# --- 1. full refresh ----------------------------------------------------------------------------


def refresh_floor(city_ids: list[int]) -> float:
    """The same requests and one bulk upsert, in this process, with no Celery."""
    from django.conf import settings
    from django.utils import timezone

    from weather.models import City, WeatherData
    from weather.openmeteo import LocationFailure, OpenMeteoClient
    from weather.services.observations import _observation, observations_upsert

    WeatherData.objects.all().delete()
    client = OpenMeteoClient(
        forecast_url=settings.WEATHER_API_URL, geocoding_url=settings.GEOCODING_API_URL, timeout=10
    )
    started = time.perf_counter()
    cities = list(City.objects.filter(id__in=city_ids).order_by("id").only("id", "latitude", "longitude"))
    rows = []
    for i in range(0, len(cities), settings.WEATHER_BATCH_SIZE):
        batch = cities[i : i + settings.WEATHER_BATCH_SIZE]
        answers = client.fetch_current([(c.latitude, c.longitude) for c in batch])
        now = timezone.now()
        rows += [
            _observation(c.id, a, now)
            for c, a in zip(batch, answers, strict=True)
            if not isinstance(a, LocationFailure)
        ]
    observations_upsert(rows)
    elapsed = time.perf_counter() - started
    assert WeatherData.objects.count() == len(city_ids)
    return elapsed


def refresh_celery(city_ids: list[int]) -> float:
    """The product: enqueue a full refresh, until the last row is committed and the run closed."""
    from weather.models import PipelineRun, WeatherData
    from weather.services.runs import refresh_run_enqueue

    WeatherData.objects.all().delete()
    started = time.time()
    run = refresh_run_enqueue()
    run = wait_for(
        lambda: PipelineRun.objects.filter(pk=run.pk, state__in=PipelineRun.FINISHED_STATES).first(),
        timeout=900,
    )
    assert run.cities_ok == len(city_ids), (run.state, run.cities_ok, run.error_summary)
    return run.finished_at.timestamp() - started


def refresh_naive(city_ids: list[int]) -> float:
    """The seed's design: a task, a request and an INSERT per city."""
    from bench.naive import fetch_one_naive
    from weather.models import WeatherData

    WeatherData.objects.all().delete()
    started = time.perf_counter()
    for city_id in city_ids:
        fetch_one_naive.delay(city_id)
    wait_for(lambda: WeatherData.objects.count() >= len(city_ids), timeout=1800, interval=0.2)
    return time.perf_counter() - started


# --- 2. task overhead ---------------------------------------------------------------------------


def noop_round_trips(count: int, *, stored: bool) -> float:
    from django_celery_results.models import TaskResult

    from bench.naive import noop, noop_unstored

    TaskResult.objects.all().delete()
    started = time.perf_counter()
    task = noop if stored else noop_unstored
    for _ in range(count):
        task.delay()
    # Unstored tasks leave no trace: a stored one queued behind them shows when the queue is through.
    sentinel = noop.delay()
    wait_for(
        lambda: (
            TaskResult.objects.filter(task_name="bench.naive.noop", status="SUCCESS").count()
            >= (count + 1 if stored else 1)
            and TaskResult.objects.filter(task_id=sentinel.id, status="SUCCESS").exists()
        ),
        timeout=600,
        interval=0.1,
    )
    return (count + 1) / (time.perf_counter() - started)


def kombu_floor(count: int) -> float:
    """Publish (persistent, confirmed) then consume and ack `count` messages with kombu alone."""
    from kombu import Connection, Exchange, Queue

    from server_config.celery import app

    queue = Queue(
        f"bench-raw-{uuid.uuid4().hex[:8]}", Exchange("bench-raw", type="direct"), routing_key="raw"
    )
    with Connection(app.conf.broker_url, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer(serializer="json")
        received = 0

        def on_message(body, message):
            nonlocal received
            received += 1
            message.ack()

        started = time.perf_counter()
        for i in range(count):
            producer.publish(
                {"n": i}, exchange=queue.exchange, routing_key="raw", declare=[queue], delivery_mode=2
            )
        with conn.Consumer(queue, callbacks=[on_message], prefetch_count=1):
            while received < count:
                conn.drain_events(timeout=10)
        elapsed = time.perf_counter() - started
        queue(conn.default_channel).delete()
    return count / elapsed


# --- 3. the web path ----------------------------------------------------------------------------


def wrk(url: str, *, seconds: int, method: str = "GET") -> dict:
    script = OUT / f"{method.lower()}.lua"
    script.write_text(f'wrk.method = "{method}"\n')
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def web_path(seconds: int) -> dict:
    from server_config.celery import app
    from weather.models import City

    city = City.objects.create(name="Web Bench", latitude=1, longitude=1)
    port, nginx_port = STUB_PORT + 1, STUB_PORT + 2
    results = {}
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "server_config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--access-logfile",
        "/dev/null",
    ]

    def up(url):
        def check():
            try:
                return urllib.request.urlopen(url, timeout=1).status == 200
            except OSError:
                return False

        return check

    conf = OUT / "nginx.conf"
    conf.write_text(
        f"daemon off; worker_processes 1; pid {OUT}/nginx.pid; error_log {OUT}/nginx-error.log;\n"
        f"events {{ worker_connections 1024; }}\n"
        f"http {{ access_log off; upstream app {{ server 127.0.0.1:{port}; keepalive 32; }}\n"
        f"  server {{ listen 127.0.0.1:{nginx_port}; location / {{ proxy_pass http://app;\n"
        f'    proxy_http_version 1.1; proxy_set_header Connection "";\n'
        f"    proxy_set_header Host $http_host; }} }} }}\n"
    )
    with process(gunicorn, name="gunicorn", ready=up(f"http://127.0.0.1:{port}/healthz")) as web:
        rss_before = rss_kib(web.pid)
        for label, base in (
            ("gunicorn", f"http://127.0.0.1:{port}"),
            ("nginx", f"http://127.0.0.1:{nginx_port}"),
        ):
            if label == "nginx":
                nginx = subprocess.Popen(
                    ["nginx", "-c", str(conf), "-p", str(OUT)], stderr=subprocess.DEVNULL
                )
                wait_for(up(f"{base}/healthz"), timeout=30)
            results[label] = {
                "healthz": wrk(f"{base}/healthz", seconds=seconds),
                "city_detail": wrk(f"{base}/api/cities/{city.id}/", seconds=seconds),
                "enqueue_refresh": wrk(
                    f"{base}/api/cities/{city.id}/refresh/", seconds=seconds, method="POST"
                ),
            }
            if label == "nginx":
                nginx.terminate()
                nginx.wait(timeout=30)
        results["web_rss_kib"] = {"before": rss_before, "after": rss_kib(web.pid)}
    # Nothing consumed the refreshes queued by the load: drop them.
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(os.environ["CELERY_TASK_DEFAULT_QUEUE"])
    return results


# --- 4. memory ----------------------------------------------------------------------------------


def worker_memory(worker, first: int, total: int) -> dict:
    from django_celery_results.models import TaskResult

    from weather.tasks import fetch_weather_for_city

    city_ids = seed_cities(first)
    before = rss_kib(worker.pid)
    done = 0
    readings = {}
    for mark in (first, total):
        for i in range(done, mark):
            fetch_weather_for_city.delay(city_ids[i % len(city_ids)])
        wait_for(
            lambda m=mark: TaskResult.objects.filter(status="SUCCESS").count() >= m,
            timeout=1800,
            interval=0.5,
        )
        done = mark
        readings[mark] = rss_kib(worker.pid)
    growth = (readings[total] - readings[first]) / readings[first]
    return {
        "before_kib": before,
        f"after_{first}_kib": readings[first],
        f"after_{total}_kib": readings[total],
        "growth_after_first": round(growth, 4),
    }


# --- the run ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1,000 cities only, shorter load runs (< 3 min)")
    parser.add_argument("--only", choices=["refresh", "web", "memory", "quota"], help="measure one part")
    options = parser.parse_args()
    quick = options.quick
    wanted = {options.only} if options.only else {"refresh", "web", "memory", "quota"}
    sizes = [1000] if quick else [1000, 10_000]
    latencies = [0, 50]
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine(), "quick": quick, "refresh": [], "overhead": [], "floors": {}}
    prepare_database()
    with stub_process():
        if "refresh" in wanted:
            refresh_and_overhead(results, sizes, latencies, quick)
        if "web" in wanted:
            stub_config(latency_ms=0)
            results["web"] = web_path(5 if quick else 10)
            log("web path measured")
        if "memory" in wanted:
            with worker_process(2) as worker:
                results["memory"] = worker_memory(worker, *((500, 1500) if quick else (1000, 10_000)))
            log(f"worker memory: {results['memory']}")
        if "quota" in wanted:
            this = sys.modules[__name__]
            results["quota"] = {
                "rate": quota.rate_under_limit(this, quick),
                "cost": quota.cost_per_batch(this, quick),
            }
            log(f"API budget: {results['quota']}")
    results["image_bytes"] = image_size()
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(report(results))


def refresh_and_overhead(results: dict, sizes: list[int], latencies: list[int], quick: bool) -> None:
    # Floors first: they need no worker.
    for latency in latencies:
        stub_config(latency_ms=latency)
        for size in sizes:
            ids = seed_cities(size)
            results["floors"][f"{size}@{latency}"] = refresh_floor(ids)
            log(f"floor {size} cities @{latency} ms: {results['floors'][f'{size}@{latency}']:.2f} s")
    results["kombu_floor_per_s"] = kombu_floor(2000 if quick else 5000)
    log(f"kombu publish+consume: {results['kombu_floor_per_s']:.0f}/s")

    for concurrency in (1, 2):
        with worker_process(concurrency):
            for stored in (True, False):
                rate = noop_round_trips(500 if quick else 3000, stored=stored)
                results["overhead"].append({"workers": concurrency, "stored": stored, "per_s": rate})
                results_mode = "stored" if stored else "off"
                log(f"no-op, {concurrency} worker(s), results {results_mode}: {rate:.0f}/s")
            for latency in latencies:
                stub_config(latency_ms=latency)
                for size in sizes:
                    ids = seed_cities(size)
                    celery = refresh_celery(ids)
                    naive_size = min(size, 200 if quick else (size if latency == 0 else 1000))
                    naive = refresh_naive(ids[:naive_size]) * (size / naive_size)
                    row = {
                        "cities": size,
                        "latency_ms": latency,
                        "workers": concurrency,
                        "celery_s": celery,
                        "naive_s": naive,
                        "naive_extrapolated": naive_size != size,
                        "floor_s": results["floors"][f"{size}@{latency}"],
                    }
                    results["refresh"].append(row)
                    log(
                        f"refresh {size} @{latency} ms, {concurrency} worker(s): celery {celery:.2f} s, "
                        f"naive {naive:.1f} s{' (extrapolated)' if row['naive_extrapolated'] else ''}"
                    )


def machine() -> dict:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "cpu": cpu.group(1) if cpu else platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def image_size() -> int | None:
    if not shutil.which("docker"):
        return None
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", TEST_APP_IMAGE],
        capture_output=True,
        text=True,
    )
    return int(result.stdout) if result.returncode == 0 else None


def report(r: dict) -> str:
    m = r["machine"]
    lines = [f"F_BRAIN benchmark — {m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB, {m['date']}"]
    if r["refresh"]:
        lines += refresh_report(r)
    if "web" in r:
        lines += web_report(r["web"])
    if "memory" in r:
        lines += ["", f"Worker memory (2 processes, KiB): {r['memory']}"]
    if "quota" in r:
        lines += quota.report_lines(r["quota"])
    if r.get("image_bytes"):
        lines.append(f"Runtime image: {r['image_bytes'] / 1e6:.0f} MB")
    return "\n".join(lines)


def refresh_report(r: dict) -> list[str]:
    lines = [
        "",
        "Full refresh (enqueue → last row committed, run closed)",
        "| cities | API latency | workers | Celery s | cities/s | × floor | naive s | naive ÷ Celery |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["refresh"]:
        naive = f"{row['naive_s']:.1f}{'*' if row['naive_extrapolated'] else ''}"
        lines.append(
            f"| {row['cities']:,} | {row['latency_ms']} ms | {row['workers']} | {row['celery_s']:.2f} | "
            f"{row['cities'] / row['celery_s']:,.0f} | {row['celery_s'] / row['floor_s']:.2f} | {naive} | "
            f"{row['naive_s'] / row['celery_s']:.1f} |"
        )
    floors = ", ".join(f"{k.replace('@', ' cities @')} ms: {v:.2f} s" for k, v in r["floors"].items())
    lines += ["", f"Floors (one process, the same requests, one bulk upsert): {floors}"]
    growth = []
    for row in r["refresh"]:
        if row["cities"] == 10_000:
            small = next(
                x for x in r["refresh"]
                if (x["cities"], x["latency_ms"], x["workers"]) == (1000, row["latency_ms"], row["workers"])
            )  # fmt: skip
            factor = row["celery_s"] / small["celery_s"]
            growth.append(f"{row['latency_ms']} ms, {row['workers']} worker(s): {factor:.1f}")
    if growth:
        lines.append("Time for 10,000 ÷ time for 1,000 cities (10 = linear): " + "; ".join(growth))
    lines.append(
        "* naive design extrapolated linearly from a sample (200 cities in --quick; 1,000 at 50 ms)."
    )
    lines += [
        "",
        "Task overhead (no-op round trips per second)",
        "| workers | results | per s |",
        "|---:|---|---:|",
    ]
    for row in r["overhead"]:
        lines.append(f"| {row['workers']} | {'stored' if row['stored'] else 'off'} | {row['per_s']:,.0f} |")
    floor = r["kombu_floor_per_s"]
    lines.append(f"RabbitMQ floor (kombu: publish, confirmed, then consume; one process): {floor:,.0f}/s")
    return lines


def web_report(web: dict) -> list[str]:
    lines = [
        "",
        "Web path (wrk, 2 threads, 16 connections; gunicorn with 2 workers)",
        "| via | endpoint | req/s | p50 ms | p99 ms | non-2xx |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for via in ("gunicorn", "nginx"):
        for endpoint, m in web[via].items():
            figures = f"{m['rps']:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['errors']}"
            lines.append(f"| {via} | {endpoint} | {figures} |")
    for via in ("gunicorn", "nginx"):
        ratio = web[via]["enqueue_refresh"]["p50_ms"] / web[via]["city_detail"]["p50_ms"]
        lines.append(f"p50 of the enqueue ÷ p50 of the plain JSON view, via {via}: {ratio:.2f}")
    lines.append(f"Web memory (gunicorn, KiB) before and after the load: {web['web_rss_kib']}")
    return lines


if __name__ == "__main__":
    main()
