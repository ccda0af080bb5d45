"""Request budgets: fixed-window counters in one table (ThrottleBudget), shared by every gunicorn
worker and web replica, spent with one statement per request.

Why not Django's cache: the DatabaseCache read and rewrote a pickled list of timestamps per
request (two round trips, and a row that grows with the rate), and past MAX_ENTRIES it culled
rows by key order, live budgets included, so an admin-login budget could reset under load.
"""

import random
import time
from dataclasses import dataclass

from django.db import connection

# One request in this many also deletes rows whose window has ended, so the table holds live
# budgets only, without a scheduled job; the delete touches ended rows only (window_end < now).
SWEEP_ONE_IN = 1000

_SPEND = """
INSERT INTO access_throttlebudget (key, window_start, window_end, hits) VALUES (%s, %s, %s, 1)
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN access_throttlebudget.window_start = EXCLUDED.window_start
                THEN access_throttlebudget.hits + 1 ELSE 1 END,
    window_start = EXCLUDED.window_start,
    window_end = EXCLUDED.window_end
RETURNING hits
"""


@dataclass(frozen=True)
class Spent:
    allowed: bool
    retry_after: float  # seconds until the window ends (meaningful when not allowed)


def budget_spend(key: str, *, limit: int, window_seconds: int) -> Spent:
    """Count one request against `key`'s budget of `limit` per window; allowed while within it.

    Windows are aligned on multiples of `window_seconds` since the epoch, the same for every
    process, so no clock but the web hosts' is needed; a client may spend up to twice the limit
    across a window's boundary, the usual price of fixed windows. A refused request counts too.
    """
    now = time.time()
    start = int(now // window_seconds) * window_seconds
    with connection.cursor() as cursor:
        cursor.execute(_SPEND, [key, start, start + window_seconds])
        (hits,) = cursor.fetchone()
        if random.randrange(SWEEP_ONE_IN) == 0:  # noqa: S311 (a sampling rate, not a secret)
            budgets_sweep(now=now)
    return Spent(allowed=hits <= limit, retry_after=max(0.0, start + window_seconds - now))


def budgets_sweep(*, now: float | None = None) -> int:
    """Delete the budgets whose window has ended; return how many."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM access_throttlebudget WHERE window_end < %s", [int(now or time.time())])
        return cursor.rowcount


def budgets_clear() -> None:
    """Forget every budget (tests, and an operator who wants to lift every limit at once)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM access_throttlebudget")
