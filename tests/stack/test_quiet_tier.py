"""The whole Compose tier leaves no ERROR or worse in any service's log but the faults it injects.

tests/conftest.py runs this after every other test of the shared stack (the first-hour tier's too,
when one session runs both) and before the tests that end it (`down -v` drops the logs). The quota
stack, the tier's other one, is scanned by the last test of test_quota.py.
"""

import re

import pytest

from tests.stack.stack import Stack

# Each fault a test of this tier injects on purpose: (service, the lines it explains). A line that no
# entry explains fails the scan, so a new error is either a bug or a fault that its test names here.
INJECTED_FAULTS = {
    # nginx logs each refused oversized body at [error], its fixed level for a 413.
    "test_nginx_sets_security_headers_once_and_refuses_big_bodies": (
        "nginx",
        re.compile(r"\[error\] .*client intended to send too large body"),
    ),
}


def unexplained_error_lines(stack: Stack) -> dict[str, list[str]]:
    """Every service's ERROR-or-worse lines that no injected fault explains, by service."""
    found = {}
    for service in stack.compose("config", "--services").stdout.split():
        lines = [
            line
            for line in stack.error_lines(service)
            if not any(name == service and pattern.search(line) for name, pattern in INJECTED_FAULTS.values())
        ]
        if lines:
            found[service] = lines
    return found


@pytest.mark.scans_tier_logs
def test_the_whole_tier_logged_no_error_but_the_faults_it_injected(stack):
    assert unexplained_error_lines(stack) == {}
