"""Logs people can search: JSON lines with the request id in web and the task id and name in tasks,
from the test client's requests and from the real worker process (its output is
build/test-worker-<database>.log, in JSON: conftest runs it with LOG_FORMAT=json, as the Compose
stack does)."""

import io
import json
import logging
import re
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from gunicorn.config import Config

from logs.config import service_name
from logs.formatters import JsonFormatter, TextFormatter
from logs.gunicorn_logger import StructuredLogger
from tests.fast.conftest import WORKER_LOG, task_done
from tests.fast.test_environment import load_settings
from tests.polling import wait_for
from weather.models import City, PipelineRun
from weather.tasks import fetch_weather_for_city

ISO_UTC_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def record(message: str = "hello %s", *args, exc_info=None, **extra) -> logging.LogRecord:
    line = logging.makeLogRecord({"name": "weather.x", "levelno": 20, "levelname": "INFO", "msg": message})
    line.args = args or (("world",) if "%s" in message else ())
    line.exc_info = exc_info
    line.__dict__.update(extra)
    return line


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def captured():
    """Every line logged meanwhile, as the JSON formatter writes it, from any logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(service="web"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)  # setLevel, not assignment: loggers cache what their level allows
    yield lambda: json_lines(stream.getvalue())
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_json_line_has_the_time_level_service_logger_and_message():
    line = JsonFormatter(service="worker").format(record(run_id=7))
    assert "\n" not in line
    entry = json.loads(line)
    assert ISO_UTC_MS.fullmatch(entry.pop("time"))
    assert entry == {
        "level": "INFO",
        "service": "worker",
        "logger": "weather.x",
        "message": "hello world",
        "run_id": 7,
    }


def test_an_exception_is_one_escaped_field_of_one_line():
    try:
        raise ValueError('a "quoted"\nmessage')
    except ValueError:
        line = JsonFormatter().format(record("failed", exc_info=sys.exc_info()))
    assert len(line.splitlines()) == 1
    entry = json.loads(line)
    assert entry["message"] == "failed"
    assert (
        entry["exception"].startswith("Traceback") and 'ValueError: a "quoted"\nmessage' in entry["exception"]
    )


def test_a_hostile_message_cannot_start_a_line_of_its_own():
    # \u2028 is a line break for some readers (Python's splitlines among them); JSON leaves it raw.
    line = JsonFormatter().format(record("city %s", 'Evil\n{"level": "ERROR"}\u2028\x85'))
    assert len(line.splitlines()) == 1
    assert json.loads(line)["message"] == 'city Evil\n{"level": "ERROR"}\u2028\x85'


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("broker amqp://fbrain:s3cret-pw@rabbitmq:5672/fbrain down", "s3cret-pw"),
        ("GET https://customer-api.open-meteo.com/v1/forecast?latitude=1&apikey=k3y-value&x=1", "k3y-value"),
        ("Authorization: Token 0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9.payload.sig"),
        ("RABBITMQ_PASSWORD=hunter2 is wrong", "hunter2"),
    ],
)
def test_secrets_are_hidden_in_both_formats(message, secret):
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(record(message))
        assert secret not in line and "***" in line


def test_a_secret_in_a_traceback_is_hidden_too():
    try:
        raise ConnectionError("Max retries exceeded with url: /v1/forecast?apikey=k3y-value")
    except ConnectionError:
        line = JsonFormatter().format(record("fetch failed", exc_info=sys.exc_info()))
    assert "k3y-value" not in line and "apikey=***" in line


def test_a_text_line_shows_the_context_after_the_message():
    line = TextFormatter().format(record(task_id="abc", task_name="weather.tasks.x", request_id="r" * 32))
    assert line.endswith(f"hello world (request_id={'r' * 32} task_id=abc task_name=weather.tasks.x)")


@pytest.mark.parametrize("value", ["xml", "JSONL", "yes"])
def test_an_unknown_log_format_is_refused_at_start_up(monkeypatch, value):
    with pytest.raises(ImproperlyConfigured, match=rf"LOG_FORMAT='{value}' is not one of: json, text"):
        load_settings(monkeypatch, LOG_FORMAT=value)


def test_an_unknown_log_level_is_refused_at_start_up(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_LOG_LEVEL='LOUD' is not one of"):
        load_settings(monkeypatch, DJANGO_LOG_LEVEL="LOUD")


def test_the_format_is_text_unless_set_and_the_service_can_be_named(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    settings = load_settings(monkeypatch, LOG_FORMAT="", LOG_SERVICE="celery-imports")
    formatter = settings["LOGGING"]["formatters"]["structured"]
    assert formatter == {"()": "logs.formatters.TextFormatter", "service": "celery-imports"}


@pytest.mark.parametrize(
    ("argv", "service"),
    [
        (["/opt/venv/bin/gunicorn", "server_config.wsgi:application"], "web"),
        (["/opt/venv/bin/celery", "-A", "server_config", "--quiet", "worker", "--loglevel=info"], "worker"),
        (["/usr/lib/python3/celery/__main__.py", "-A", "server_config", "beat"], "beat"),
        (["/opt/venv/bin/celery", "-A", "server_config", "flower", "--port=5555"], "flower"),
        (["manage.py", "runserver", "127.0.0.1:8000"], "web"),
        (["manage.py", "migrate", "--noinput"], "migrate"),
        (["-c"], "app"),
    ],
)
def test_the_service_is_the_role_the_process_plays(argv, service):
    assert service_name(argv) == service


def test_a_request_answers_with_its_id_and_its_log_lines_carry_it(anonymous, captured):
    response = anonymous.get("/api/no-such-endpoint/")
    assert response.status_code == 404
    request_id = response["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    not_found = [entry for entry in captured() if entry["logger"] == "django.request"]
    assert not_found and all(entry["request_id"] == request_id for entry in not_found)


def test_each_request_gets_its_own_id(anonymous):
    assert anonymous.get("/healthz")["X-Request-Id"] != anonymous.get("/healthz")["X-Request-Id"]


def test_a_well_formed_request_id_from_nginx_is_kept(anonymous):
    nginx_id = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert anonymous.get("/healthz", headers={"X-Request-Id": nginx_id})["X-Request-Id"] == nginx_id


@pytest.mark.parametrize(
    "hostile",
    ["a" * 129, "abcdefgh\nforged line", 'abcdefgh", "level": "ERROR', "abc def ghi", "short", "ü" * 10],
    ids=["too-long", "newline", "quotes", "spaces", "too-short", "non-ascii"],
)
def test_a_hostile_request_id_is_replaced(anonymous, captured, hostile):
    response = anonymous.get("/api/no-such-endpoint/", headers={"X-Request-Id": hostile})
    request_id = response["X-Request-Id"]
    assert request_id != hostile and re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert {entry["request_id"] for entry in captured() if entry["logger"] == "django.request"} == {
        request_id
    }


def worker_lines(task_id: str, *, until: str) -> list[dict]:
    """The worker's JSON lines about `task_id`, once one of them contains `until`."""

    def lines():
        found = [
            entry
            for entry in json_lines(WORKER_LOG.read_text(errors="replace"))
            if entry.get("task_id") == task_id
        ]
        return found if any(until in entry["message"] for entry in found) else None

    return wait_for(lines, timeout=30, what=f"the worker to log {until!r} for {task_id}")


def test_a_refresh_is_findable_by_its_task_id_in_the_web_and_worker_logs(api, worker, captured):
    city = City.objects.create(name="Grepville", country="NO", latitude=59.91, longitude=10.75)
    response = api.post(f"/api/cities/{city.id}/refresh/", content_type="application/json")
    task_id, request_id = response.json()["task_id"], response["X-Request-Id"]
    # The web side: the request that queued the task says so, with both ids.
    queued = [entry for entry in captured() if entry.get("task_id") == task_id]
    assert [entry["message"] for entry in queued] == [
        f"Queued weather.tasks.fetch_weather_for_city[{task_id}]"
    ]
    assert queued[0]["request_id"] == request_id and queued[0]["service"] == "web"
    # The worker side: received, the task's own line, succeeded; each with the task's id and name.
    assert task_done(task_id).status == "SUCCESS"
    lines = worker_lines(task_id, until="succeeded in")
    assert {entry["task_name"] for entry in lines} == {"weather.tasks.fetch_weather_for_city"}
    assert {entry["service"] for entry in lines} == {"worker"}
    messages = " | ".join(entry["message"] for entry in lines)
    assert "received" in messages and "Fetched weather for Grepville" in messages
    # The task's own lines carry the request id that queued it, from the message's header.
    fetched = next(entry for entry in lines if entry["message"].startswith("Fetched weather"))
    assert fetched["request_id"] == request_id and fetched["logger"] == "weather.tasks"


def test_a_full_refresh_logs_its_run_and_its_batches_carry_the_request_id(api, worker, captured):
    City.objects.create(name="Batchtown", country="FR", latitude=43.6, longitude=1.44)
    response = api.post("/api/pipeline/refresh-all/", content_type="application/json")
    run_id, request_id = response.json()["run_id"], response["X-Request-Id"]
    task_id = PipelineRun.objects.get(id=run_id).task_id
    queued = [entry for entry in captured() if entry.get("run_id") == run_id]
    assert queued and queued[0]["task_id"] == task_id and queued[0]["request_id"] == request_id
    assert queued[0]["message"].endswith(f" for run {run_id}")
    # Tasks the fan-out queued in the worker carry the request id on: one grep finds them all.
    wait_for(
        lambda: PipelineRun.objects.get(id=run_id).state in PipelineRun.FINISHED_STATES,
        timeout=60,
        what="the run",
    )
    batches = wait_for(
        lambda: [
            entry
            for entry in json_lines(WORKER_LOG.read_text(errors="replace"))
            if entry.get("request_id") == request_id
            and entry.get("task_name") == "weather.tasks.fetch_weather_batch"
        ],
        timeout=30,
        what="the batches' lines",
    )
    assert all(entry["task_id"] != task_id for entry in batches)


def test_a_hostile_request_id_in_a_task_message_is_replaced_and_none_is_invented(worker):
    # Whoever can publish to the broker could forge the header: the worker checks it like nginx's.
    hostile = fetch_weather_for_city.apply_async(
        (City.objects.create(name="Forgeton", latitude=1, longitude=2).id,),
        headers={"request_id": 'abcdefgh"\n{"level": "ERROR"}'},
    ).id
    plain = fetch_weather_for_city.delay(
        City.objects.create(name="Plainville", latitude=3, longitude=4).id
    ).id
    for task_id in (hostile, plain):
        assert task_done(task_id).status == "SUCCESS"
    (forged,) = [e for e in worker_lines(hostile, until="succeeded in") if e["message"].startswith("Fetched")]
    assert re.fullmatch(r"[0-9a-f]{32}", forged["request_id"])
    (queued_here,) = [
        e for e in worker_lines(plain, until="succeeded in") if e["message"].startswith("Fetched")
    ]
    assert "request_id" not in queued_here  # queued by no request: no id, not the last task's


def test_gunicorns_access_line_has_its_fields_and_the_id_django_answered_with(captured):
    root = logging.getLogger()
    handlers = list(root.handlers)
    config = Config()
    config.set("accesslog", "-")
    try:
        logger = StructuredLogger(
            config
        )  # applies settings.LOGGING to the root logger, as gunicorn's master does
        root.handlers[:] = handlers  # this test's capture again
        response = SimpleNamespace(status="201 Created", headers=[("X-Request-Id", "f" * 32)], sent=17)
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/cities/", "REMOTE_ADDR": "10.0.0.9"}
        logger.access(response, None, environ, timedelta(milliseconds=12.5))
    finally:
        root.handlers[:] = handlers
    (line,) = [entry for entry in captured() if entry["logger"] == "gunicorn.access"]
    assert line["message"] == "POST /api/cities/ 201 12.5 ms"
    assert {k: line[k] for k in ("request_id", "method", "path", "status", "duration_ms", "bytes")} == {
        "request_id": "f" * 32, "method": "POST", "path": "/api/cities/",
        "status": 201, "duration_ms": 12.5, "bytes": 17,
    }  # fmt: skip
