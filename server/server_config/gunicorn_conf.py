"""gunicorn's configuration file (start-web passes it with --config): server hooks only; the
settings stay on start-web's command line.

Loaded by path, not imported as part of the server_config package, so the master process does not
load Django or Celery.
"""

import os


def child_exit(server, worker):
    # prometheus_client's multiprocess mode (observability/exposition.py): a worker process that
    # exited (--max-requests recycles them) leaves its counter files, which keep counting in the sums;
    # this drops its live gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
