"""The benchmark's set-up: its database, cities, and the processes it measures (stub, workers).

Importing this module sets the benchmark's environment (bench/settings.py) before Django reads it.
"""

import json
import os
import re
import socket
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
from tests.celery_worker import worker_command  # noqa: E402
from tests.polling import stop  # noqa: E402

OUT = REPO / "build" / "bench"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "server"), str(REPO)])}
STUB_PORT = int(os.environ["FBRAIN_TEST_STUB_PORT"])
STUB = f"http://127.0.0.1:{STUB_PORT}"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare_database() -> None:
    import psycopg

    name = os.environ["POSTGRES_DB"]
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    # As the migrate job does (server/docker/migrate): the enqueue's dedup lives in the cache table.
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


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


def stub_reset() -> None:
    urllib.request.urlopen(urllib.request.Request(f"{STUB}/_stub/reset", data=b"{}"), timeout=5).read()


@contextmanager
def process(args: list[str], *, name: str, ready=None, cwd: Path = REPO / "server", env: dict | None = None):
    """Run `args` (with `env` added to the benchmark's environment) until the block ends."""
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


def answers(url: str):
    """A readiness check: does `url` answer 200?"""

    def check() -> bool:
        try:
            return urllib.request.urlopen(url, timeout=1).status == 200
        except OSError:
            return False

    return check


def stub_process():
    args = [sys.executable, "-m", "tests.openmeteo_stub", "--port", str(STUB_PORT), "--quiet"]
    return process(args, name="stub", ready=answers(f"{STUB}/_stub/health"), cwd=REPO)


def worker_process(concurrency: int):
    from server_config.celery import app

    hostname = f"bench-{concurrency}-{uuid.uuid4().hex[:6]}@localhost"
    args = worker_command(
        hostname=hostname,
        queue=os.environ["CELERY_TASK_DEFAULT_QUEUE"],
        concurrency=concurrency,
        imports=("bench.naive",),
    )
    return process(
        args, name=f"worker-{concurrency}", ready=lambda: app.control.ping([hostname], timeout=0.5)
    )


def free_port() -> int:
    """A port nothing listens on now (bound then released): ports next to the stub's may be taken."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
