"""A process that spends from the shared budget, for test_quota's concurrency test.

Its own module, importing nothing of Django at the top: a spawned process imports the module of its
target before it can set Django up.
"""

import os
from decimal import Decimal

ATTEMPTS = 40


def spend(database: str, limits: dict, cost: str, now: float, start, granted) -> None:
    """Set up Django on the test database, wait for every other spender, then spend together."""
    os.environ.update({"POSTGRES_DB": database, "DJANGO_SETTINGS_MODULE": "tests.fast.settings", **limits})
    import django

    django.setup()
    from quota.services import quota_reserve

    start.wait(timeout=120)
    count = sum(quota_reserve(cost=Decimal(cost), now=now).granted for _ in range(ATTEMPTS))
    with granted.get_lock():
        granted.value += count
