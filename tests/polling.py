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


def early_in_a_window(*, needed: float, window_seconds: int = 60) -> None:
    """Unless `needed` seconds are left in the current fixed window (aligned on multiples of
    `window_seconds` since the epoch, as access/budgets.py aligns request budgets), sleep into the
    next one: a loop that counts against one budget must not see it reset half-way."""
    left = window_seconds - time.time() % window_seconds
    if left < needed:
        time.sleep(left + 0.1)


def stop(process: subprocess.Popen, *, timeout: float = 30) -> None:
    """SIGTERM, the graceful way out; SIGKILL if the process is still there after `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
