"""Claims on a key by a queued task, in one statement: the first caller's task holds the key until
it finishes (its result row is in a ready state) or the claim expires; callers meanwhile get that
task's id instead of queueing another. weather/services/enqueue.py uses this to coalesce refreshes.

Why not Django's cache: the DatabaseCache took six round trips per claim (a read, then a count of
the whole table to decide on culling, a savepoint, a read, a write, a release), the count growing
with the table; past MAX_ENTRIES its culling dropped live claims. Here a claim is one upsert whose
row lock also makes two callers of one key wait for each other, without an advisory lock.
"""

import time

from celery.states import READY_STATES
from django.db import connection

_READY = ", ".join(f"'{state}'" for state in sorted(READY_STATES))

# ON CONFLICT ... DO UPDATE ... WHERE ... RETURNING: PostgreSQL, and SQLite since 3.35 (make dev).
# The one interpolation is Celery's own state names, never a caller's input.
_CLAIM = f"""
INSERT INTO task_queue_taskclaim (key, task_id, expires_at) VALUES (%s, %s, %s)
ON CONFLICT (key) DO UPDATE SET task_id = excluded.task_id, expires_at = excluded.expires_at
WHERE task_queue_taskclaim.expires_at < %s
   OR EXISTS (SELECT 1 FROM django_celery_results_taskresult AS result
              WHERE result.task_id = task_queue_taskclaim.task_id AND result.status IN ({_READY}))
RETURNING task_id
"""  # noqa: S608


def task_claim(key: str, *, task_id: str, ttl: float) -> str | None:
    """Claim `key` for `task_id` for `ttl` seconds at most; None when claimed, else the id of the
    unfinished task that holds it. Call it in the transaction that queues the task: a rollback
    releases the claim, and a second caller waits for that transaction to end."""
    now = time.time()
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, [key, task_id, now + ttl, now])
        if cursor.fetchone() is not None:
            return None
        cursor.execute("SELECT task_id FROM task_queue_taskclaim WHERE key = %s", [key])
        return cursor.fetchone()[0]
