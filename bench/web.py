"""The web path under load: wrk against gunicorn directly, then through nginx (bench/nginx.conf)."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.processes import OUT, STUB_PORT, answers, process, rss_kib
from tests.polling import wait_for

NGINX_CONF = Path(__file__).with_name("nginx.conf")


def wrk(url: str, *, seconds: int, token: str, method: str = "GET") -> dict:
    """wrk as a staff client: refreshes are staff-only, and an anonymous load would measure the 401."""
    script = OUT / f"{method.lower()}.lua"
    script.write_text(f'wrk.method = "{method}"\nwrk.headers["Authorization"] = "Token {token}"\n')
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
    from django.contrib.auth import get_user_model

    from access.tokens import api_token_issue
    from server_config.celery import app
    from weather.models import City

    city = City.objects.create(name="Web Bench", latitude=1, longitude=1)
    staff = get_user_model().objects.create_superuser("bench", "bench@example.org", None)
    token = api_token_issue(user=staff)
    port, nginx_port = STUB_PORT + 1, STUB_PORT + 2
    gunicorn = [
        *(sys.executable, "-m", "gunicorn", "server_config.wsgi:application"),
        *("--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "/dev/null"),
    ]
    results = {}
    with process(gunicorn, name="gunicorn", ready=answers(f"http://127.0.0.1:{port}/healthz")) as web:
        rss_before = rss_kib(web.pid)
        results["gunicorn"] = endpoints_load(f"http://127.0.0.1:{port}", city.id, seconds, token)
        with nginx_process(upstream_port=port, port=nginx_port) as base:
            results["nginx"] = endpoints_load(base, city.id, seconds, token)
        results["web_rss_kib"] = {"before": rss_before, "after": rss_kib(web.pid)}
    # Nothing consumed the refreshes queued by the load: drop them.
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(os.environ["CELERY_TASK_DEFAULT_QUEUE"])
    return results


def endpoints_load(base: str, city_id: int, seconds: int, token: str) -> dict:
    # A refresh of a city whose task is still queued answers with that task (200, no new message):
    # nothing consumes here, so after the first request this is the coalesced path a busy site sees.
    return {
        "healthz": wrk(f"{base}/healthz", seconds=seconds, token=token),
        "city_detail": wrk(f"{base}/api/cities/{city_id}/", seconds=seconds, token=token),
        "enqueue_refresh": wrk(
            f"{base}/api/cities/{city_id}/refresh/", seconds=seconds, token=token, method="POST"
        ),
    }


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
