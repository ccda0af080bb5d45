"""The command line of a real Celery worker, shared by the fast tier's fixture and the benchmark."""

import sys


def worker_command(
    *, hostname: str, queue: str, concurrency: int, imports: tuple[str, ...] = ()
) -> list[str]:
    """A worker of the project's app on `queue`, run from server/ with this interpreter.

    Gossip and mingle are off: each run starts its own worker on its own queue, and talking to the
    other engineers' workers on the shared broker would only slow the start.
    """
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "server_config",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        f"--hostname={hostname}",
        "-Q",
        queue,
        *(arg for module in imports for arg in ("-I", module)),
        "--without-gossip",
        "--without-mingle",
    ]
