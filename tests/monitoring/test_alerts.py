"""The monitoring profile live: Prometheus scrapes every target on the backend network, the key series
of workers, tasks, broker and web are there after a refresh, the metrics paths are refused through
nginx, and stopping the workers fires WorkerDown through Prometheus's API. Tests run in file order
on one stack; the last one stops the workers."""

import json
import subprocess
import time

from tests.polling import wait_for

JOBS = {"flower", "rabbitmq", "web", "beat", "prometheus"}


def test_prometheus_is_up_and_scrapes_every_target(stack, prometheus):
    [container] = stack.containers("prometheus")
    assert container["Health"] == "healthy"
    health = wait_for(
        lambda: (h := prometheus.targets()) and set(h) == JOBS and set(h.values()) == {"up"} and h,
        timeout=180, interval=5, what="every scrape target up",
    )  # fmt: skip
    assert health == dict.fromkeys(JOBS, "up")
    rules = prometheus.get("/api/v1/rules")["groups"]
    names = {rule["name"] for group in rules for rule in group["rules"]}
    assert {"WorkerDown", "BeatSilent", "DeadLettersPresent", "OpenMeteoErrors"} <= names


def test_prometheus_is_hardened_like_the_other_services(stack):
    container = stack.compose("ps", "-q", "prometheus").stdout.split()[0]
    out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True)
    inspected = json.loads(out.stdout)[0]
    host = inspected["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["ReadonlyRootfs"] is True and "no-new-privileges:true" in host["SecurityOpt"]
    assert inspected["Config"]["User"] == "65534:65534"
    assert {b["HostIp"] for b in host["PortBindings"]["9090/tcp"]} == {"127.0.0.1"}
    assert stack.compose("exec", "-T", "prometheus", "touch", "/etc/written", check=False).returncode != 0


def test_the_metrics_paths_are_refused_through_nginx(stack):
    web = stack.http("GET", "/metrics", anonymous=True)
    assert web.status == 404 and b"django_http" not in web.body
    flower = stack.http("GET", "/flower/metrics", anonymous=True)
    assert flower.status == 403 and b"flower_events_total" not in flower.body
    # The Flower login opens Flower's pages, not its metrics.
    assert stack.http("GET", "/flower/metrics", auth=stack.flower_auth).status == 403


def _value(prometheus, expression: str) -> float:
    result = prometheus.query(expression)
    return float(result[0]["value"][1]) if result else 0.0


def test_workers_tasks_broker_and_web_series_exist_after_a_refresh(stack, prometheus):
    stack.act_as_staff()
    city = stack.http(
        "POST", "/api/cities/", {"name": "Metricville", "country": "FR", "latitude": 45.2, "longitude": 5.7}
    ).json()
    task_id = stack.http("POST", f"/api/cities/{city['id']}/refresh/").json()["task_id"]
    wait_for(
        lambda: stack.http("GET", f"/api/tasks/{task_id}/").json()["state"] == "SUCCESS",
        timeout=120, what="the refresh task",
    )  # fmt: skip
    task = 'task="weather.tasks.fetch_weather_for_city"'
    # Per task name, from the workers' events: received, started, succeeded; and its runtime.
    for kind in ("task-received", "task-started", "task-succeeded"):
        wait_for(
            lambda kind=kind: _value(prometheus, f'sum(flower_events_total{{{task}, type="{kind}"}})') >= 1,
            timeout=90, interval=5, what=f"flower_events_total {kind}",
        )  # fmt: skip
    assert _value(prometheus, f"sum(flower_task_runtime_seconds_count{{{task}}})") >= 1
    # Sent: counted by web itself, summed over its gunicorn processes (observability/publishing.py).
    wait_for(
        lambda: _value(prometheus, f"sum(fbrain_celery_tasks_sent_total{{{task}}})") >= 1,
        timeout=60, interval=5, what="fbrain_celery_tasks_sent_total",
    )  # fmt: skip
    assert _value(prometheus, "sum(flower_worker_online)") >= 2  # celery and celery-imports
    # The broker, per queue: depth, consumers, and the dead-letter queues' depth.
    assert _value(prometheus, 'rabbitmq_queue_consumers{queue="celery"}') >= 1
    assert prometheus.query('rabbitmq_queue_messages{queue="celery"}')
    assert prometheus.query('rabbitmq_queue_messages{queue="celery.dead-letter"}')
    # The web: requests by view and status (summed over gunicorn's processes), latency; the pipeline.
    responses = 'django_http_responses_total_by_status_view_method_total{status="202"}'
    assert _value(prometheus, f"sum({responses})") >= 1
    assert _value(prometheus, "sum(django_http_requests_latency_seconds_by_view_method_count)") >= 1
    assert _value(prometheus, "min(fbrain_pipeline_metrics_up)") == 1
    assert _value(prometheus, 'fbrain_openmeteo_quota_limit_calls{window="minute"}') > 0
    # The running scheduler's ticks, not the banner's scheduler's (which never ticks).
    assert abs(_value(prometheus, "fbrain_beat_last_tick_timestamp_seconds") - time.time()) < 60
    assert not [a for a in prometheus.alerts() if a["labels"]["alertname"] == "BeatSilent"]


def test_stopping_the_workers_fires_worker_down(stack, prometheus):
    assert not [a for a in prometheus.alerts() if a["labels"]["alertname"] == "WorkerDown"]
    stopped = time.monotonic()
    stack.compose("stop", "celery", "celery-imports", timeout=900)

    def firing() -> set[str]:
        return {
            a["labels"]["queue"] for a in prometheus.alerts()
            if a["labels"]["alertname"] == "WorkerDown" and a["state"] == "firing"
        }  # fmt: skip

    queues = wait_for(lambda: firing() == {"celery", "imports"} and firing(), timeout=300, interval=5,
                      what="WorkerDown firing for both queues")  # fmt: skip
    took = time.monotonic() - stopped
    print(f"WorkerDown fired for {sorted(queues)} {took:.0f} s after `docker compose stop` began")
    # A scrape (15 s), the rule's `for: 1m`, an evaluation (15 s), and the stop itself.
    assert took < 300
