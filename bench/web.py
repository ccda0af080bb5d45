"""The web path under load: wrk against gunicorn, started with start-web's per-request settings
(its config file, structured access log, worker recycling), then through nginx (bench/nginx.conf).

Two kinds of run. At 16 connections (LOAD) the two gunicorn workers always have requests waiting:
throughput, and latencies that are mostly queueing. At 2 connections (ALONE) each worker serves one
request at a time, so a p50 is a request's own time, comparable to the parts measured alone in
bench/parts.py. Every run refuses to report when any answer was not 2xx (bench/report.py): a figure
that timed 429s or 5xx says nothing about the work.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.parts import confirmed_publish_ms, pending_insert_ms
from bench.processes import OUT, answers, free_port, process, rss_kib
from tests.polling import wait_for

NGINX_CONF = Path(__file__).with_name("nginx.conf")
LOAD, ALONE = 16, 2
GUNICORN_WORKERS = 2
# Cities per second of an enqueue run, above what two workers can enqueue: every request names a
# city nobody has queued, so each one queues a task (a refresh of a queued city answers 200 with
# that task instead, and would measure a lookup).
ENQUEUES_PER_SECOND_MAX = 1500


@dataclass
class Load:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    queued: int | None = None  # enqueue runs: answers 202, a task queued by that request

    @property
    def clean(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0


AUTH_LUA = 'wrk.headers["Authorization"] = "Token @TOKEN@"\n'

# Each wrk thread walks its own share of [first, first + count): thread k takes first + k, first + k
# + threads, ... so no two requests of a run name the same city. Answers 202 are counted per thread.
ENQUEUE_LUA = (
    AUTH_LUA
    + """wrk.method = "POST"
local threads, started = {}, 0
function setup(thread)
    thread:set("offset", started)
    started = started + 1
    table.insert(threads, thread)
end
function init(args)
    n, queued, stride = 0, 0, @THREADS@
end
function request()
    local id = @FIRST@ + (offset + n * stride) % @COUNT@
    n = n + 1
    return wrk.format(nil, "/api/cities/" .. id .. "/refresh/")
end
function response(status, headers, body)
    if status == 202 then queued = queued + 1 end
end
function done(summary, latency, requests)
    local total = 0
    for _, thread in ipairs(threads) do total = total + thread:get("queued") end
    io.write("queued: " .. total .. "\\n")
end
"""
)


def wrk(url: str, *, seconds: int, connections: int, script: str) -> Load:
    path = OUT / "wrk.lua"
    path.write_text(script)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(path), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    def count(pattern: str) -> int:
        found = re.search(pattern, out)
        return sum(int(n) for n in found.groups()) if found else 0

    queued = re.search(r"^queued: (\d+)$", out, re.M)
    return Load(
        requests=count(r"(\d+) requests in"),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=ms("50"),
        p99_ms=ms("99"),
        non_2xx=count(r"Non-2xx or 3xx responses: (\d+)"),
        socket_errors=count(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"),
        queued=int(queued.group(1)) if queued else None,
    )


class Runs:
    """The loads of one benchmark run, each enqueue run on cities of its own."""

    def __init__(self, *, seconds: int, token: str, city_id: int, cities: list[int]):
        self.seconds, self.token, self.city_id = seconds, token, city_id
        self.cities = cities
        self.per_run = seconds * ENQUEUES_PER_SECOND_MAX
        self.used = 0

    def read(self, base: str, *, connections: int, path: str | None = None) -> dict:
        script = AUTH_LUA.replace("@TOKEN@", self.token)
        url = f"{base}{path or f'/api/cities/{self.city_id}/'}"
        return asdict(wrk(url, seconds=self.seconds, connections=connections, script=script))

    def enqueue(self, base: str, *, connections: int) -> dict:
        first = self.cities[self.used]
        self.used += self.per_run
        assert self.used <= len(self.cities), "more enqueue runs than cities made for them"
        script = (
            ENQUEUE_LUA.replace("@TOKEN@", self.token)
            .replace("@FIRST@", str(first))
            .replace("@COUNT@", str(self.per_run))
            .replace("@THREADS@", "2")
        )
        return asdict(wrk(base, seconds=self.seconds, connections=connections, script=script))


ENQUEUE_RUNS = 3  # gunicorn at LOAD and ALONE, nginx at LOAD


def web_path(seconds: int) -> dict:
    from django.contrib.auth import get_user_model

    from access.tokens import api_token_issue
    from bench.processes import seed_cities
    from server_config.celery import app

    cities = seed_cities(1 + ENQUEUE_RUNS * seconds * ENQUEUES_PER_SECOND_MAX)
    get_user_model().objects.filter(username="bench").delete()  # a run before this one made it
    staff = get_user_model().objects.create_superuser("bench", "bench@example.org", None)
    runs = Runs(seconds=seconds, token=api_token_issue(user=staff), city_id=cities[0], cities=cities[1:])
    port, unthrottled_port, nginx_port = free_port(), free_port(), free_port()
    results: dict = {}
    with gunicorn_process(port) as web:
        rss_before = rss_kib(web.pid)
        base = f"http://127.0.0.1:{port}"
        results["gunicorn"] = {
            "healthz": runs.read(base, connections=LOAD, path="/healthz"),
            "city_detail": runs.read(base, connections=LOAD),
            "enqueue_refresh": runs.enqueue(base, connections=LOAD),
        }
        results["alone"] = {
            "city_detail": runs.read(base, connections=ALONE),
            "enqueue_refresh": runs.enqueue(base, connections=ALONE),
        }
        with nginx_process(upstream_port=port, port=nginx_port) as proxied:
            results["nginx"] = {
                "city_detail": runs.read(proxied, connections=LOAD),
                "enqueue_refresh": runs.enqueue(proxied, connections=LOAD),
            }
        results["web_rss_kib"] = {"before": rss_before, "after": rss_kib(web.pid)}
    # The throttles' cost: the same read on a gunicorn whose API has no throttle classes.
    with gunicorn_process(unthrottled_port, BENCH_THROTTLES="off"):
        results["alone"]["city_detail_unthrottled"] = runs.read(
            f"http://127.0.0.1:{unthrottled_port}", connections=ALONE
        )
    results["parts_ms"] = {"pending_insert": pending_insert_ms(), "confirmed_publish": confirmed_publish_ms()}
    # Nothing consumed the refreshes queued by the load: drop them.
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(os.environ["CELERY_TASK_DEFAULT_QUEUE"])
    return results


@contextmanager
def gunicorn_process(port: int, **env: str) -> Iterator[subprocess.Popen]:
    """gunicorn with start-web's per-request settings: its config file, its structured access log
    (to build/bench/gunicorn-<port>.log) and its worker recycling."""
    args = [
        *(sys.executable, "-m", "gunicorn", "server_config.wsgi:application"),
        *("--config", "server_config/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}"),
        *("--workers", str(GUNICORN_WORKERS), "--max-requests", "2000", "--max-requests-jitter", "200"),
        *("--access-logfile", "-", "--logger-class", "logs.gunicorn_logger.StructuredLogger"),
    ]
    ready = answers(f"http://127.0.0.1:{port}/healthz")
    with process(args, name=f"gunicorn-{port}", ready=ready, env=env) as web:
        yield web


@contextmanager
def nginx_process(*, upstream_port: int, port: int) -> Iterator[str]:
    """nginx with bench/nginx.conf in front of the upstream; yields its base URL."""
    conf = OUT / "nginx.conf"
    conf.write_text(
        NGINX_CONF.read_text()
        .replace("@OUT@", str(OUT))
        .replace("@UPSTREAM_PORT@", str(upstream_port))
        .replace("@LISTEN_PORT@", str(port))
    )
    base = f"http://127.0.0.1:{port}"
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(OUT)], stderr=subprocess.DEVNULL)
    try:
        wait_for(answers(f"{base}/healthz"), timeout=30)
        yield base
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
