"""What operators do with dead letters: list them, send them back to their queue, or discard them.

Messages are taken with basic.get and acknowledged only once republished (confirmed) or discarded;
the ones left alone return to the dead-letter queue, in order, when the channel closes.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kombu import Connection, Producer
from kombu.message import Message

from task_queue.queues import dead_letter_queue

# Broker bookkeeping that must not travel with a requeued message: it would count the old deaths.
_DEATH_HEADERS = ("x-death", "x-delivery-count", "x-first-death-exchange", "x-first-death-queue",
                  "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue",
                  "x-last-death-reason")  # fmt: skip


@dataclass(frozen=True)
class DeadLetter:
    task_id: str
    task_name: str
    args: str
    reason: str
    deaths: int


def _describe(message: Message) -> DeadLetter:
    headers = message.headers or {}
    deaths = headers.get("x-death") or [{}]
    return DeadLetter(
        task_id=str(headers.get("id", "?")),
        task_name=str(headers.get("task", "?")),
        args=str(headers.get("argsrepr", "")),
        reason=str(headers.get("x-first-death-reason") or deaths[0].get("reason", "?")),
        deaths=sum(int(death.get("count", 1)) for death in deaths if death),
    )


@contextmanager
def _dead_letters(connection: Connection, queue_name: str) -> Iterator[Iterator[Message]]:
    channel = connection.channel()
    try:
        queue = dead_letter_queue(queue_name)(channel)
        queue.declare()
        yield iter(lambda: queue.get(no_ack=False), None)
    finally:
        channel.close()


def dead_letters_list(connection: Connection, *, queue_name: str, limit: int = 1000) -> list[DeadLetter]:
    letters = []
    with _dead_letters(connection, queue_name) as messages:
        for message in messages:
            letters.append(_describe(message))
            if len(letters) >= limit:
                break
    return letters


def dead_letters_requeue(connection: Connection, *, queue_name: str, task_ids: set[str] | None) -> list[str]:
    """Publish the chosen dead letters (all when `task_ids` is None) back to `queue_name`, each
    confirmed by the broker before it leaves the dead-letter queue. Returns the requeued task ids."""
    requeued = []
    producer = Producer(connection.channel())
    try:
        with _dead_letters(connection, queue_name) as messages:
            for message in messages:
                letter = _describe(message)
                if task_ids is not None and letter.task_id not in task_ids:
                    continue
                headers = {k: v for k, v in (message.headers or {}).items() if k not in _DEATH_HEADERS}
                properties = {
                    k: message.properties[k]
                    for k in ("correlation_id", "reply_to", "priority")
                    if message.properties.get(k) is not None
                }
                producer.publish(
                    message.body,
                    exchange=queue_name,
                    routing_key=queue_name,
                    headers=headers,
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    delivery_mode=2,
                    **properties,
                )
                message.ack()
                requeued.append(letter.task_id)
    finally:
        producer.channel.close()
    return requeued


def dead_letters_discard(connection: Connection, *, queue_name: str, task_ids: set[str]) -> list[str]:
    discarded = []
    with _dead_letters(connection, queue_name) as messages:
        for message in messages:
            letter = _describe(message)
            if letter.task_id in task_ids:
                message.ack()
                discarded.append(letter.task_id)
    return discarded
