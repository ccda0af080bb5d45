"""How large a worker's pool process may grow before Celery replaces it, from the container's limit.

Celery checks `--max-memory-per-child` once per pool process, after each of its tasks; the kernel's
OOM killer acts when the whole container (its memory cgroup) reaches its limit, and SIGKILLs one of
its processes mid-task (a pool process, or the worker itself). A bound per child that is not well
under the container's limit divided by the pool's size is never reached: with 1 GiB per child in a
1 GiB container and one child per CPU, the OOM killer always came first. So the bound follows from
the limit the container runs under and the pool's size, keeping room for the worker's main process
and for the task still running when a child is checked.
"""

import logging
from pathlib import Path

from celery.signals import worker_init
from django.conf import settings

from server_config.env import env_int

logger = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB
# The memory cgroup a container sees as its own: v2 (cgroup namespace) first, then v1, where Docker
# mounts the container's own memory cgroup at /sys/fs/cgroup/memory.
CGROUP_LIMIT_FILES = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)
# cgroup v1 writes "no limit" as the largest page-aligned signed 64-bit number; anything this large
# is no limit on any real machine.
NO_LIMIT_FROM = 1 << 60
# Left out of the pool's share: the worker's main process (Django, the consumer, ~100 MiB measured)
# and a margin for the task still running when its child is checked (a quarter of the limit).
MAIN_PROCESS_BYTES = 128 * MIB
IN_FLIGHT_SHARE = 4
# Below this a pool process cannot even import Django: the container is too small for its pool.
SMALLEST_CHILD_KIB = 64 * KIB
# Without a container limit (a native run), the bound a child still gets: a leak is still stopped.
UNLIMITED_CHILD_KIB = 1024 * KIB


def container_memory_limit(files: tuple[Path, ...] = CGROUP_LIMIT_FILES) -> int | None:
    """The container's memory limit in bytes, or None when it has none (or no cgroup is visible)."""
    for path in files:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        limit = int(text)
        return None if limit >= NO_LIMIT_FROM else limit
    return None


def pool_share_bytes(limit: int) -> int:
    """What the pool processes together may hold in a container limited to `limit` bytes."""
    return limit - MAIN_PROCESS_BYTES - limit // IN_FLIGHT_SHARE


def per_child_limit_kib(*, limit: int | None, concurrency: int) -> int:
    """The automatic bound: an equal part of the pool's share for each pool process, in KiB."""
    if limit is None:
        return UNLIMITED_CHILD_KIB
    per_child = pool_share_bytes(limit) // concurrency // KIB
    if per_child < SMALLEST_CHILD_KIB:
        raise ValueError(
            f"The worker's container has {limit // MIB} MiB for {concurrency} pool processes: less than "
            f"{SMALLEST_CHILD_KIB // KIB} MiB each. Raise CELERY_MEMORY_LIMIT or lower the concurrency."
        )
    return per_child


def fitting_pool_size(limit: int) -> int:
    """The most pool processes a container limited to `limit` bytes holds at the smallest bound."""
    return max(1, pool_share_bytes(limit) // (SMALLEST_CHILD_KIB * KIB))


def checked_child_limit_kib(*, value: int | str, limit: int | None, concurrency: int) -> int:
    """WORKER_MAX_MEMORY_PER_CHILD as the pool applies it (0: no bound); ValueError when it cannot hold.

    An explicit value wins, unless the pool could outgrow the container before any child reaches it.
    """
    if value == "auto":
        return per_child_limit_kib(limit=limit, concurrency=concurrency)
    if limit is None or value == 0:
        return int(value)
    if concurrency * value * KIB > pool_share_bytes(limit):
        raise ValueError(
            f"WORKER_MAX_MEMORY_PER_CHILD={value} KiB times {concurrency} pool processes is more than the "
            f"container's {limit // MIB} MiB can hold (its main process and a running task need room too): "
            f"the container would be OOM-killed before any pool process is replaced. Leave it unset (auto: "
            f"{per_child_limit_kib(limit=limit, concurrency=concurrency)} KiB here) or lower it."
        )
    return int(value)


@worker_init.connect
def _pool_bound_set(sender=None, **kwargs) -> None:
    # worker_init comes after Celery resolved the pool's size and before it made the pool, which reads
    # concurrency and max_memory_per_child. Celery logs and swallows a handler's exceptions, but not
    # SystemExit: a bound that cannot hold stops the worker at start with the message, not an OOM kill.
    limit = container_memory_limit()
    value = settings.WORKER_MAX_MEMORY_PER_CHILD
    # One process per CPU is Celery's default, not a choice: on a host with many CPUs it may not fit
    # the container, and then the pool is made as large as fits. A size set on purpose is kept.
    if value == "auto" and limit is not None and not env_int("WORKER_CONCURRENCY", 0, minimum=0):
        fits = fitting_pool_size(limit)
        if sender.concurrency > fits:
            logger.warning(
                "%s pool processes (one per CPU) do not fit in the container's %s MiB: starting %s. "
                "Set WORKER_CONCURRENCY and CELERY_MEMORY_LIMIT to choose.",
                sender.concurrency, limit // MIB, fits,
            )  # fmt: skip
            sender.concurrency = fits
    try:
        kib = checked_child_limit_kib(value=value, limit=limit, concurrency=sender.concurrency)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    sender.max_memory_per_child = kib or None
    logger.info(
        "Pool processes are replaced past %s KiB (%s pool processes, container limit %s)",
        kib or "no", sender.concurrency, f"{limit // MIB} MiB" if limit else "none",
    )  # fmt: skip
