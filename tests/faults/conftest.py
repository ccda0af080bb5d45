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
    # These tests are about delivery, not the quota (tests/stack/test_quota.py proves that): they
    # fetch about 8,300 cities from the local stand-in, which the free tier's 600 a minute and 5,000
    # an hour would stretch past their timeouts. The budget of a paid key, as an operator would set it.
    "WEATHER_QUOTA_PER_MINUTE": "1000000",
    "WEATHER_QUOTA_PER_HOUR": "1000000",
    "WEATHER_QUOTA_PER_DAY": "1000000",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One real stack with two worker containers, shared by the fault tests in file order."""
    with running_stack(tmp_path_factory.mktemp("faults"), **FAULT_STACK) as stack:
        stack.compose("up", "-d", "--wait", "--scale", "celery=2", "celery", timeout=300)
        yield stack
