"""The first hour's quickest part against `make dev`: the native stack on SQLite and the filesystem
broker, started by the README's command, then stopped with Ctrl-C as a user would."""

import json
import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest

from tests.openmeteo_stub import OpenMeteoStub
from tests.polling import stop, wait_for
from tests.stack.stack import REPO, free_port


def get(url: str, auth: str | None = None, method: str = "GET", body: dict | None = None, token: str = ""):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(auth.encode()).decode())
    elif token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError:  # not listening yet
        return None, None


@pytest.fixture
def dev_stack(tmp_path):
    web, flower = free_port(), free_port()
    with OpenMeteoStub() as stub:
        env = {
            **os.environ,
            "DJANGO_SQLITE_PATH": str(tmp_path / "db.sqlite3"),
            "CELERY_BROKER_FILESYSTEM_DIR": str(tmp_path / "broker"),
            "BEAT_LIVENESS_FILE": str(tmp_path / "beat-alive"),
            "ETL_IMPORT_DIR": str(tmp_path / "imports"),
            "WEATHER_API_URL": stub.forecast_url,
            "GEOCODING_API_URL": stub.geocoding_url,
            "DEV_WEB_PORT": str(web),
            "DEV_FLOWER_PORT": str(flower),
        }
        for name in ("DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL", "RABBITMQ_URL", "USE_POSTGRES"):
            env.pop(name, None)
        log = (tmp_path / "make-dev.log").open("w")
        process = subprocess.Popen(
            ["make", "--no-print-directory", "dev"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield f"http://127.0.0.1:{web}", f"http://127.0.0.1:{flower}", process, env
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the user's terminal
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    stop(process)
            log.close()


def manage(env: dict, *args: str) -> str:
    """A management command against make dev's database, with dev.env as make dev loads it."""
    lines = (REPO / "dev.env").read_text().splitlines()
    dev = dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "manage.py", *args],
        cwd=REPO / "server", env={**env, **dev}, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_make_dev_serves_the_api_runs_tasks_and_flower_then_stops_on_ctrl_c(dev_stack, tmp_path):
    web, flower, process, env = dev_stack
    wait_for(lambda: get(f"{web}/readyz")[0] == 200, timeout=120, what="make dev to be ready")
    # The README's way to an account and a token.
    manage({**env, "DJANGO_SUPERUSER_USERNAME": "dev", "DJANGO_SUPERUSER_PASSWORD": "dev-only-password",
            "DJANGO_SUPERUSER_EMAIL": "dev@example.org"}, "createsuperuser", "--noinput")  # fmt: skip
    token = manage(env, "api_token", "dev")
    body = {"name": "Devtown", "latitude": 10, "longitude": 10}
    assert get(f"{web}/api/cities/", method="POST", body=body)[0] == 401
    status, city = get(f"{web}/api/cities/", method="POST", body=body, token=token)
    assert status == 201
    status, queued = get(f"{web}/api/cities/{city['id']}/refresh/", method="POST", body={}, token=token)
    assert status == 202
    task = wait_for(
        lambda: (
            (t := get(queued["status_url"], token=token)[1]) and t["state"] in ("SUCCESS", "FAILURE") and t
        ),
        timeout=60,
        what="the refresh through the filesystem broker",
    )
    assert task["state"] == "SUCCESS", task
    assert len(get(f"{web}/api/cities/{city['id']}/weather/")[1]) == 1
    # An import on SQLite: its staging and upserts take the path other than PostgreSQL's COPY.
    imports = Path(env["ETL_IMPORT_DIR"])
    imports.mkdir(exist_ok=True)
    (imports / "dev.csv").write_text(
        "name,country,latitude,longitude,observed_at,temperature\n"
        "Devtown,,10,10,2026-01-01T00:00,4.5\nDevtown,,10,10,2026-01-01T00:00,5\nElsewhere,FR,95,4,,\n"
    )
    status, queued = get(f"{web}/api/pipeline/etl/", method="POST", body={"source": "dev.csv"}, token=token)
    assert status == 202
    finished = ("success", "partial", "failure")
    run = wait_for(
        lambda: (r := get(queued["run_url"], token=token)[1]) and r["state"] in finished and r,
        timeout=60, what="the import through the filesystem broker",
    )  # fmt: skip
    assert (run["state"], run["observations_loaded"]) == ("partial", 1), run
    assert [e["line"] for e in run["errors"]] == [3, 4], run
    assert len(get(f"{web}/api/cities/{city['id']}/weather/")[1]) == 2
    assert get(f"{flower}/api/workers")[0] == 401
    workers = wait_for(lambda: get(f"{flower}/api/workers?refresh=1", auth="admin:dev-only")[1], timeout=30)
    assert any(name.startswith("celery@") for name in workers)

    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=30) is not None
    leftovers = subprocess.run(
        ["pgrep", "-g", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == []
    # A clean start is quiet: nothing that `make dev` printed, from any of its processes, is an error.
    output = (tmp_path / "make-dev.log").read_text()
    assert [line for line in output.splitlines() if re.search(r"\b(ERROR|CRITICAL)\b", line)] == []
