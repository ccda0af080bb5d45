"""Prometheus metrics and alert rules: the web's /metrics (correct across gunicorn processes, refused
through a proxy), beat's endpoint, the pipeline's gauges read from the database, and the rules under
`promtool` (check config, check rules, and their unit tests)."""

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from wsgiref.util import setup_testing_defaults

import pytest
import yaml
from django.utils import timezone

from observability.beat import BeatMetrics
from server_config.wsgi import application
from tests.polling import stop, wait_for
from tests.stack.stack import REPO, free_port
from weather.models import PipelineRun

MONITORING = REPO / "monitoring"
RULES = yaml.safe_load((MONITORING / "rules" / "fbrain.yml").read_text())
# django-prometheus's responses by status, view and method, for the health check's view.
HEALTHZ_RESPONSES = r'django_http_responses_total_by_status_view_method_total\{(?=[^}]*view="healthz")'
ALERTS = sorted({rule["alert"] for group in RULES["groups"] for rule in group["rules"]})


def promtool(*args: str) -> subprocess.CompletedProcess:
    command = shutil.which("promtool")
    assert command, "promtool is missing: `make promtool` installs Debian's prometheus package"
    return subprocess.run([command, *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_it_passes_the_alert_rules_unit_tests():
    result = promtool("test", "rules", "monitoring/tests/rules_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_checks_prometheus_config_and_rules():
    # check config also loads the rule files the configuration names.
    for args in (
        ["check", "config", "monitoring/prometheus.yml"],
        ["check", "rules", "monitoring/rules/fbrain.yml"],
    ):
        result = promtool(*args)
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_and_has_a_runbook():
    tests = yaml.safe_load((MONITORING / "tests" / "rules_test.yml").read_text())
    tested = {case["alertname"] for test in tests["tests"] for case in test["alert_rule_test"]}
    assert sorted(tested) == ALERTS
    operations = (REPO / "docs" / "operations.md").read_text()
    for group in RULES["groups"]:
        for rule in group["rules"]:
            assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"
            assert re.search(rf"^### {rule['alert']}$", operations, re.M), f"no runbook for {rule['alert']}"


def test_every_scrape_target_is_a_service_on_the_backend_network():
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for job in config["scrape_configs"]:
        names = [t.split(":")[0] for c in job.get("static_configs", []) for t in c["targets"]]
        names += [n for c in job.get("dns_sd_configs", []) for n in c["names"]]
        for name in names:
            service = services["prometheus" if name == "localhost" else name]
            assert "backend" in service["networks"], (job["job_name"], name)


def test_nginx_does_not_route_the_metrics_paths():
    nginx = (REPO / "nginx" / "conf.d" / "default.conf").read_text()
    assert re.search(r"location = /metrics \{\s*return 404;", nginx)
    assert re.search(r"location \^~ /flower/metrics \{\s*return 403;", nginx)


def wsgi_get(path: str, *, method: str = "GET", **headers: str) -> tuple[str, str]:
    """The status line and body the WSGI application (with its /metrics wrapper) answers."""
    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO=path, REQUEST_METHOD=method, HTTP_HOST="web:8000")
    environ.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = status

    body = b"".join(application(environ, start_response))
    return answer["status"], body.decode()


def test_web_metrics_count_requests_and_read_the_pipeline_from_the_database(transactional_db, client):
    # A refresh that lost 3 of 10 cities, then one request: both show on the next scrape.
    PipelineRun.objects.create(
        kind=PipelineRun.Kind.REFRESH, state=PipelineRun.State.PARTIAL, finished_at=timezone.now(),
        cities_total=10, cities_ok=7, cities_failed=3,
    )  # fmt: skip
    assert client.get("/healthz").status_code == 200
    status, body = wsgi_get("/metrics")
    assert status.startswith("200")
    assert re.search(rf'^{HEALTHZ_RESPONSES}.*status="200"', body, re.M)
    assert 'fbrain_refresh_last_run_cities{outcome="failed"} 3.0' in body
    finished = float(re.search(r"^fbrain_refresh_last_success_timestamp_seconds (\S+)$", body, re.M)[1])
    assert abs(finished - time.time()) < 60
    assert "fbrain_openmeteo_paused 0.0" in body
    assert 'fbrain_openmeteo_quota_limit_calls{window="minute"}' in body
    assert "fbrain_pipeline_metrics_up 1.0" in body


def test_web_metrics_are_refused_through_a_proxy_and_to_other_methods():
    # nginx sets X-Forwarded-For on every request it passes on: a scrape never carries it.
    assert wsgi_get("/metrics", x_forwarded_for="203.0.113.9")[0].startswith("404")
    assert wsgi_get("/metrics", x_real_ip="203.0.113.9")[0].startswith("404")
    assert wsgi_get("/metrics", method="POST")[0].startswith("405")


def _healthz(port: int) -> bool:
    # A long timeout: a request given up on while the workers boot would still be answered, and counted.
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=60) as response:
            return response.status == 200
    except OSError:  # refused until gunicorn listens
        return False


def _healthz_total(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        body = response.read().decode()
    return float(re.search(rf"^{HEALTHZ_RESPONSES}[^}}]*\}} (\S+)$", body, re.M)[1])


def test_web_metrics_add_up_across_gunicorn_processes_and_their_restarts(tmp_path):
    # Three processes, each replaced after 5 requests: every request is counted once, whichever
    # process answers the scrape (prometheus_client's multiprocess mode, start-web's configuration).
    port = free_port()
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    log = (tmp_path.parent / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "server_config.wsgi:application", "--chdir", str(REPO / "server"),
         "--config", str(REPO / "server" / "server_config" / "gunicorn_conf.py"), "--workers", "3",
         "--max-requests", "5", "--no-control-socket", "--bind", f"127.0.0.1:{port}"],
        env=environment, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: _healthz(port), timeout=60, what="gunicorn to answer")
        before = _healthz_total(port)
        answered = sum(_healthz(port) for _ in range(30))
        assert answered == 30
        assert {_healthz_total(port) for _ in range(4)} == {before + 30}
    finally:
        stop(server)
        log.close()


def test_beat_serves_its_last_tick_and_whether_it_holds_the_lock():
    port = free_port()
    metrics = BeatMetrics(port=port)
    metrics.ticked(lock_held=True)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body = response.read().decode()
    tick = float(re.search(r"^fbrain_beat_last_tick_timestamp_seconds (\S+)$", body, re.M)[1])
    assert abs(tick - time.time()) < 5
    assert "fbrain_beat_scheduler_lock_held 1.0" in body


def test_web_and_beat_count_the_tasks_they_send(transactional_db):
    from celery.signals import after_task_publish

    metrics = BeatMetrics(port=0)
    name = "weather.tasks.metrics_probe"
    after_task_publish.send(sender=name, headers={"task": name}, body=(), exchange="", routing_key="celery")
    after_task_publish.send(sender=name, headers={"task": name}, body=(), exchange="", routing_key="celery")
    assert metrics.registry.get_sample_value("fbrain_celery_tasks_sent_total", {"task": name}) == 2
    assert f'fbrain_celery_tasks_sent_total{{task="{name}"}} 2.0' in wsgi_get("/metrics")[1]


def test_beat_records_each_tick(transactional_db):
    from server_config.beat import LivenessDatabaseScheduler
    from server_config.celery import app

    # `celery beat` builds a scheduler for its banner, then the one that runs: both share one endpoint.
    banner = LivenessDatabaseScheduler(app=app, lazy=True)
    scheduler = LivenessDatabaseScheduler(app=app, lazy=False)
    try:
        scheduler.tick()
        assert banner.metrics is scheduler.metrics
        assert abs(scheduler.metrics.last_tick._value.get() - time.time()) < 5
    finally:
        scheduler.lock.release()
        banner.lock.release()


@pytest.mark.parametrize("alert", ALERTS)
def test_each_alert_names_severity_and_summary(alert):
    rules = [r for g in RULES["groups"] for r in g["rules"] if r["alert"] == alert]
    assert all(
        r["labels"]["severity"] in {"warning", "critical"} and r["annotations"]["summary"] for r in rules
    )
