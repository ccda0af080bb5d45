import pytest

from tests.stack.stack import running_stack

# Retries spaced like production but shorter, so a 20 s database outage fits in the retry budget
# (1, 1-2, 2-4, 4-8, then 5-10 s) and an API timeout costs 2 s instead of 10.
FAULT_STACK = {
    "SEED_CITIES": "false",
    "WEATHER_BATCH_SIZE": "10",
    "WEATHER_API_TIMEOUT": "2",
    "WEATHER_RETRY_BACKOFF_SECONDS": "1",
    "WEATHER_RETRY_BACKOFF_MAX_SECONDS": "10",
    "WORKER_CONCURRENCY": "2",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One real stack with two worker containers, shared by the fault tests in file order."""
    with running_stack(tmp_path_factory.mktemp("faults"), **FAULT_STACK) as stack:
        stack.compose("up", "-d", "--wait", "--scale", "celery=2", "celery", timeout=300)
        yield stack
