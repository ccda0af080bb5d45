"""The enqueue's parts, each measured alone, one at a time, in this process: what an enqueue must
cost at least beyond a plain read (bench/web.py compares their sum to its p50)."""

import statistics
import time
import uuid


def _p50_ms(step, count: int) -> float:
    step()  # the first call opens connections and declares the queue
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        step()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def pending_insert_ms(count: int = 1000) -> float:
    """The PENDING result row, as the enqueue writes it: one INSERT ... ON CONFLICT DO NOTHING."""
    from django_celery_results.models import TaskResult

    def insert() -> None:
        TaskResult.objects.bulk_create(
            [TaskResult(task_id=str(uuid.uuid4()), status="PENDING", task_name="bench.parts")],
            ignore_conflicts=True,
        )

    p50 = _p50_ms(insert, count)
    TaskResult.objects.filter(task_name="bench.parts").delete()
    return p50


def confirmed_publish_ms(count: int = 1000) -> float:
    """A persistent message published to a quorum queue like the task queues, with its confirm."""
    from kombu import Exchange, Queue

    from server_config.celery import app

    queue = Queue(
        f"bench-parts-{uuid.uuid4().hex[:8]}",
        Exchange("bench-parts", type="direct"),
        routing_key="parts",
        queue_arguments={"x-queue-type": "quorum"},
    )
    with app.connection_for_write() as conn:  # the app's transport options: confirm_publish
        producer = conn.Producer(serializer="json")

        def publish() -> None:
            producer.publish(
                {"task": "bench.parts"}, exchange=queue.exchange, routing_key="parts",
                declare=[queue], delivery_mode=2,
            )  # fmt: skip

        p50 = _p50_ms(publish, count)
        queue(conn.default_channel).delete()
    return p50
