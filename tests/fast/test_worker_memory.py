"""A worker pool process's memory bound follows from its container's limit and the pool's size, so that
a leaking process is replaced before the kernel kills the whole container (task_queue/memory.py)."""

from types import SimpleNamespace

import pytest

from task_queue import memory
from task_queue.memory import (
    MAIN_PROCESS_BYTES,
    MIB,
    UNLIMITED_CHILD_KIB,
    checked_child_limit_kib,
    container_memory_limit,
    fitting_pool_size,
    per_child_limit_kib,
)

GIB = 1024 * MIB


def limit_files(tmp_path, v2=None, v1=None):
    """The two cgroup files the worker reads, holding `v2` and `v1` (None: absent)."""
    files = (tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes")
    for path, text in zip(files, (v2, v1), strict=True):
        if text is not None:
            path.write_text(text + "\n")
    return files


@pytest.mark.parametrize(
    ("v2", "v1", "expected"),
    [
        ("1073741824", None, GIB),  # cgroup v2, `docker run --memory 1g`
        ("max", None, None),  # cgroup v2 without a limit
        (None, "536870912", 512 * MIB),  # cgroup v1
        (None, "9223372036854771712", None),  # cgroup v1's "no limit"
        (None, None, None),  # no memory cgroup visible at all
    ],
)
def test_it_reads_the_containers_limit_from_cgroup_v2_then_v1(tmp_path, v2, v1, expected):
    assert container_memory_limit(limit_files(tmp_path, v2, v1)) == expected


def test_the_shipped_limits_leave_the_pool_room_under_the_container():
    # CELERY_MEMORY_LIMIT=1g with one pool process per CPU: all of them at their bound, plus the main
    # process, must stay below the container's limit, or the OOM killer acts before Celery does.
    for concurrency in (1, 2, 4):
        per_child = per_child_limit_kib(limit=GIB, concurrency=concurrency)
        assert concurrency * per_child * 1024 + MAIN_PROCESS_BYTES < GIB
        assert per_child >= 64 * 1024


def test_the_old_default_of_one_gib_per_child_is_refused_in_a_one_gib_container():
    with pytest.raises(ValueError, match="OOM-killed before any pool process is replaced"):
        checked_child_limit_kib(value=1_048_576, limit=GIB, concurrency=2)


def test_an_explicit_bound_that_fits_wins_over_the_automatic_one():
    assert checked_child_limit_kib(value=200 * 1024, limit=GIB, concurrency=2) == 200 * 1024
    assert checked_child_limit_kib(value=0, limit=GIB, concurrency=2) == 0  # no bound, as asked


def test_it_refuses_a_pool_too_large_for_its_container():
    with pytest.raises(ValueError, match="Raise CELERY_MEMORY_LIMIT or lower the concurrency"):
        checked_child_limit_kib(value="auto", limit=GIB, concurrency=16)


def test_without_a_container_limit_each_process_still_has_a_bound():
    assert checked_child_limit_kib(value="auto", limit=None, concurrency=8) == UNLIMITED_CHILD_KIB
    assert checked_child_limit_kib(value=300 * 1024, limit=None, concurrency=8) == 300 * 1024


def start(monkeypatch, settings, *, limit, concurrency, value="auto", concurrency_variable=""):
    """What the worker_init handler makes of a worker about to create its pool."""
    monkeypatch.setattr(memory, "container_memory_limit", lambda: limit)
    monkeypatch.setenv("WORKER_CONCURRENCY", concurrency_variable)
    settings.WORKER_MAX_MEMORY_PER_CHILD = value
    worker = SimpleNamespace(concurrency=concurrency, max_memory_per_child=None)
    memory._pool_bound_set(sender=worker)
    return worker


def test_the_worker_gets_the_automatic_bound_before_it_makes_its_pool(monkeypatch, settings):
    worker = start(monkeypatch, settings, limit=GIB, concurrency=2)
    assert (worker.concurrency, worker.max_memory_per_child) == (
        2,
        per_child_limit_kib(limit=GIB, concurrency=2),
    )


def test_one_process_per_cpu_on_a_large_host_is_cut_to_what_the_container_holds(monkeypatch, settings):
    worker = start(monkeypatch, settings, limit=GIB, concurrency=32)
    assert worker.concurrency == fitting_pool_size(GIB) < 32
    assert worker.max_memory_per_child * 1024 * worker.concurrency + MAIN_PROCESS_BYTES < GIB


def test_a_pool_size_chosen_on_purpose_is_kept_and_refused_if_it_cannot_fit(monkeypatch, settings):
    with pytest.raises(SystemExit, match="Raise CELERY_MEMORY_LIMIT or lower the concurrency"):
        start(monkeypatch, settings, limit=GIB, concurrency=32, concurrency_variable="32")


def test_an_explicit_bound_too_large_stops_the_worker(monkeypatch, settings):
    with pytest.raises(SystemExit, match="OOM-killed before any pool process is replaced"):
        start(monkeypatch, settings, limit=GIB, concurrency=2, value=1_048_576)
