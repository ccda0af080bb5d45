"""The worker's monitoring events (what Flower reads), published without publisher confirms.

Every task makes a worker send three events: task-received, task-started and task-succeeded. With
the broker's `confirm_publish` on (task_queue/broker.py), each of them waited for RabbitMQ's
confirm in the worker's one event loop, which meanwhile took no message and acked none: py-spy on
a worker running no-op tasks found 45 % of its samples there (docs/performance.md). An event is a
transient message to a fanout exchange with no durable queue behind it; a confirm promises it
nothing that matters, and a monitor that misses one catches up from the next. Tasks themselves are
still published with confirms, by every process.
"""

from celery.worker.consumer import Consumer


class UnconfirmedEventsConsumer(Consumer):
    """The worker's consumer, whose event dispatcher's connection has no publisher confirms."""

    def connection_for_write(self, url=None, heartbeat=None):
        # In Celery's consumer, only the event dispatcher (the Events step) opens its connection
        # here; tests/fast/test_task_events.py fails if a task or a result would go through it.
        return self.ensure_connected(
            self.app.connection_for_write(
                url=url, heartbeat=heartbeat, transport_options={"confirm_publish": False}
            )
        )
