"""`make dev`'s filesystem broker (task_queue/filesystem_broker.py) under processes that write and read
at once: every message arrives whole and once, and an exchange's table is never read half written."""

import multiprocessing
from queue import Empty

from kombu import Connection

from task_queue.broker import broker_settings

MESSAGES = 300


def connection(folder) -> Connection:
    settings = broker_settings(debug=True, var_dir=folder)
    return Connection(settings.url, transport_options=settings.transport_options)


def publish(folder, producer: int) -> None:
    with connection(folder) as conn:
        queue = conn.SimpleQueue("race")
        for n in range(MESSAGES):
            queue.put({"producer": producer, "n": n, "pad": "x" * 1_000_000})


def consume(folder, results) -> None:
    seen = []
    with connection(folder) as conn:
        queue = conn.SimpleQueue("race")
        idle = 0
        while idle < 20:
            try:
                message = queue.get(timeout=0.1)
            except Empty:
                idle += 1
                continue
            idle = 0
            seen.append((message.payload["producer"], message.payload["n"]))
            message.ack()
    results.put(seen)


def bind_and_read(folder, worker: int, errors) -> None:
    with connection(folder) as conn:
        channel = conn.default_channel
        channel.exchange_declare("fan", type="fanout")
        for n in range(150):
            channel.queue_declare(f"q{worker}-{n}", auto_delete=True)
            channel.queue_bind(f"q{worker}-{n}", exchange="fan", routing_key="")
            try:
                channel.get_table("fan")
            except ValueError as exc:  # a table read half written
                errors.put(repr(exc))


def test_messages_written_and_taken_at_once_all_arrive_whole_and_once(tmp_path, monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "")
    monkeypatch.setenv("RABBITMQ_URL", "")
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=publish, args=(tmp_path, p)) for p in range(2)]
    processes += [context.Process(target=consume, args=(tmp_path, results)) for _ in range(2)]
    for process in processes:
        process.start()
    seen = results.get(timeout=60) + results.get(timeout=60)
    for process in processes:
        process.join(timeout=30)
    # A consumer that met a half-written file would have died with a JSON error and reported nothing.
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    assert sorted(seen) == [(p, n) for p in range(2) for n in range(MESSAGES)]


def test_queues_bound_by_several_processes_all_stay_in_the_table_which_reads_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "")
    monkeypatch.setenv("RABBITMQ_URL", "")
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    processes = [context.Process(target=bind_and_read, args=(tmp_path, w, errors)) for w in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert errors.empty()
    with connection(tmp_path) as conn:
        table = conn.default_channel.get_table("fan")
    assert sorted(q.queue for q in table) == sorted(f"q{w}-{n}" for w in range(3) for n in range(150))
