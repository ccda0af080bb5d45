"""The real worker proves its progress and survives a leak: its consumer keeps the liveness file
fresh, and a pool process that grew past WORKER_MAX_MEMORY_PER_CHILD is replaced, not the worker."""

import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.fast.conftest import task_done
from tests.fast.fault_tasks import leak_memory, pool_process_id
from tests.polling import wait_for

pytestmark = pytest.mark.fault


def process_alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


def test_the_consumer_keeps_its_liveness_file_fresh(worker):
    liveness = Path(settings.WORKER_LIVENESS_FILE)
    first = wait_for(lambda: liveness.exists() and liveness.stat().st_mtime, timeout=30, what="a touch")
    # Touched again by the consumer's timer, not only once at start.
    wait_for(lambda: liveness.stat().st_mtime > first, timeout=60, interval=1, what="a second touch")
    assert time.time() - liveness.stat().st_mtime < 60


def test_a_leaking_task_costs_its_pool_process_not_the_worker(worker, celery_worker_process):
    limit_kib = settings.WORKER_MAX_MEMORY_PER_CHILD
    leak = leak_memory.delay(limit_kib // 1024 + 100)
    result = task_done(leak.id, timeout=60)
    assert result.status == "SUCCESS"  # the limit is checked after the task: its work is kept
    leaker = int(result.result)
    # The pool replaced the process that passed the limit ...
    wait_for(lambda: not process_alive(leaker), timeout=60, what=f"pool process {leaker} to be replaced")
    # ... while the worker itself kept running and the next tasks still run, in other processes.
    assert process_alive(celery_worker_process.pid)
    after = [int(task_done(pool_process_id.delay().id).result) for _ in range(4)]
    assert leaker not in after
