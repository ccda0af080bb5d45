"""Waiting for real processes: poll until a condition holds, within a bound that suits a shared machine."""

import subprocess
import time
from collections.abc import Callable


def wait_for(
    predicate: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.2, what: str = ""
):
    """Poll until `predicate` returns something truthy, and return it; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)


def stop(process: subprocess.Popen, *, timeout: float = 30) -> None:
    """SIGTERM, the graceful way out; SIGKILL if the process is still there after `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
