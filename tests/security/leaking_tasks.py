"""A task that exists only in tests/security/test_worker_memory.py's worker (mounted into its container,
imported with -I): it leaks as a module-level cache that only grows would, and keeps no result."""

import os

from celery import shared_task
from celery.utils.log import get_task_logger

logger = get_task_logger(__name__)

_leaked: list[bytes] = []


@shared_task(name="leaking_tasks.leak", ignore_result=True, acks_late=True)
def leak(mebibytes: int) -> None:
    # Written, not only allocated, so that every page is resident and charged to the container.
    _leaked.append(b"x" * (mebibytes * 1024 * 1024))
    # Which pool process ran it: the test counts them, to see grown ones replaced.
    logger.info("leaked %s MiB in pool process %s", len(_leaked) * mebibytes, os.getpid())
