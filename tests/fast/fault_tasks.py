"""Tasks that exist only in the fast tier's worker (tests/fast/settings.py imports them): faults that
production code must survive but never contains."""

import os
import signal
from pathlib import Path

from celery import shared_task


@shared_task(acks_late=True)
def kill_own_process_until_fixed(deliveries_log: str, fixed_marker: str) -> str:
    """A poison message: each delivery is logged, then the pool process running it dies with SIGKILL,
    as an out-of-memory kill or a crashing C extension would do, until `fixed_marker` exists."""
    with Path(deliveries_log).open("a") as log:
        log.write(f"{os.getpid()}\n")
    if not Path(fixed_marker).exists():
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


# What a leaking task keeps alive after it returns, as a module-level cache that only grows would.
_leaked: list[bytes] = []


@shared_task(acks_late=True)
def leak_memory(mebibytes: int) -> int:
    """Keeps `mebibytes` MiB alive in its pool process (written, so resident); returns that process's pid."""
    _leaked.append(b"x" * (mebibytes * 1024 * 1024))
    return os.getpid()


@shared_task(acks_late=True)
def pool_process_id() -> int:
    return os.getpid()
