"""The broker topology on RabbitMQ: each Celery queue is a quorum queue with a delivery limit, and a
message delivered that many times without an acknowledgement goes to the queue's dead-letter queue.

Quorum queues are replicated and durable, count deliveries, and dead-letter at least once (the
message leaves the source queue only once the dead-letter queue has confirmed it). A task that kills
its worker process is handed back by every worker that takes it (late acks, reject on worker lost);
the delivery limit is what stops it from doing so forever.
"""

from celery import bootsteps
from kombu import Exchange, Queue

# One direct exchange for every dead-letter queue; a message keeps its queue's name as routing key.
DEAD_LETTER_EXCHANGE = Exchange("dead-letter", type="direct", durable=True)


def dead_letter_queue_name(queue_name: str) -> str:
    return f"{queue_name}.dead-letter"


def task_queue(name: str, *, delivery_limit: int) -> Queue:
    # A topic exchange: Celery's native delayed delivery (countdowns and retries without a worker
    # holding the message) routes delayed messages back through it.
    return Queue(
        name,
        Exchange(name, type="topic", durable=True),
        routing_key=name,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
            "x-dead-letter-routing-key": name,
            "x-dead-letter-strategy": "at-least-once",
            # at-least-once dead-lettering requires it; the queue has no length limit to reach.
            "x-overflow": "reject-publish",
        },
    )


def dead_letter_queue(queue_name: str) -> Queue:
    return Queue(
        dead_letter_queue_name(queue_name),
        DEAD_LETTER_EXCHANGE,
        routing_key=queue_name,
        queue_arguments={"x-queue-type": "quorum"},
    )


def declare_topology(connection, queues) -> None:
    """Declare every task queue with its exchange and binding, and its dead-letter queue.

    Each worker binds every queue of the app to Celery's delayed-delivery exchanges when it starts,
    including the queues it does not consume; a queue or exchange that no one has declared yet makes
    that step fail (CRITICAL "Failed to setup delayed delivery") and leaves countdowns of that queue
    undelivered. Every start script declares the whole topology first (task_queue/dependencies.py),
    so the order in which containers start no longer matters. Idempotent: a declaration that matches
    the broker's changes nothing.
    """
    channel = connection.channel()
    try:
        for queue in queues:
            queue(channel).declare()
            if (queue.queue_arguments or {}).get("x-dead-letter-exchange"):
                dead_letter_queue(queue.name)(channel).declare()
    finally:
        channel.close()


class DeclareTopology(bootsteps.StartStopStep):
    """Worker consumer step: every queue of the app, and the dead-letter queue of each, exists before
    the first message can be dead-lettered (at-least-once dead-lettering holds messages until it does),
    again after each reconnection, since a broker may come back without them (a new volume)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c) -> None:
        declare_topology(c.connection, c.app.amqp.queues.values())
