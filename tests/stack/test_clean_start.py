"""A fresh `make up` is quiet, and holds nothing that the newest RabbitMQ series (4.3) refuses.

This file runs first on the shared stack: its scan reads the logs of the start itself, before any
test injects a fault. test_quiet_tier.py scans every service again once the whole tier has run.
"""

import json

import pytest

from tests.stack.stack import Stack

# The stack's own processes: the Django, Celery and Flower containers, and the migrate job.
APP_SERVICES = ("migrate", "web", "celery", "celery-imports", "beat", "flower")


@pytest.mark.parametrize("service", APP_SERVICES)
def test_a_clean_start_logs_no_error_or_critical_line(stack, service):
    # Among others: no "Failed to setup delayed delivery" from a worker that bound the other
    # workers' queue before anyone had declared it (the start scripts declare the topology first).
    assert stack.error_lines(service) == []


def rabbitmqctl(stack: Stack, *args: str) -> list[dict]:
    out = stack.exec("rabbitmq", "rabbitmqctl", "-q", *args, "--formatter", "json").stdout
    return json.loads(out or "[]")


def test_rabbitmq_refuses_what_4_3_refuses_and_the_stack_uses_none_of_it(stack):
    queues = rabbitmqctl(stack, "list_queues", "-p", "fbrain", "name", "durable", "exclusive", "type")
    assert queues
    # A transient queue (the workers' control queues, Flower's event queue) is exclusive to its
    # connection; every durable one (tasks, dead letters, delayed delivery) is a quorum queue.
    assert [q["name"] for q in queues if not q["durable"] and not q["exclusive"]] == []
    assert {q["type"] for q in queues if q["durable"]} == {"quorum"}
    # Prefetch is per consumer: no channel asked for global QoS, which 4.3 refuses with a channel
    # error. 4.0 lists no global prefetch per channel, but logs each use of a deprecated feature that
    # its configuration does not permit, as it logs a refused transient queue.
    broker_log = stack.compose("logs", "--no-color", "rabbitmq").stdout
    for feature in ("transient_nonexcl_queues", "global_qos", "queue_master_locator"):
        assert f"Deprecated features: `{feature}`" not in broker_log
    assert (
        "deprecated_features.permit.transient_nonexcl_queues = false"
        in stack.exec("rabbitmq", "cat", "/etc/rabbitmq/conf.d/00-deprecated-features.conf").stdout
    )


def test_a_queue_celery_creates_by_itself_is_a_quorum_queue(stack):
    # A task sent to a queue that CELERY_TASK_QUEUES does not declare (task_create_missing_queues).
    stack.django(
        "from server_config.celery import app; "
        "app.send_task('weather.tasks.cleanup_old_weather_data', queue='stack-test-adhoc')"
    )
    try:
        queues = rabbitmqctl(stack, "list_queues", "-p", "fbrain", "name", "type", "durable")
        assert {"name": "stack-test-adhoc", "type": "quorum", "durable": True} in queues
    finally:
        stack.exec("rabbitmq", "rabbitmqctl", "-q", "delete_queue", "-p", "fbrain", "stack-test-adhoc")
