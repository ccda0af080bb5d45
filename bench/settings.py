"""Settings of `make bench`: the fast tier's environment on a database of its own, with the
production batch size and timeouts."""

import os

for _name, _value in {
    "POSTGRES_DB": "fbrain_bench",
    "WEATHER_BATCH_SIZE": "100",
    "WEATHER_API_TIMEOUT": "10",
    "DJANGO_LOG_LEVEL": "WARNING",
    # The throughput benchmarks measure the pipeline, not the free tier: a budget that never runs
    # out (still reserved per request, so its cost is in the figures). bench/quota.py sets its own.
    "WEATHER_QUOTA_PER_MINUTE": "1000000000",
    "WEATHER_QUOTA_PER_HOUR": "1000000000",
    "WEATHER_QUOTA_PER_DAY": "1000000000",
}.items():
    os.environ.setdefault(_name, _value)

from tests.fast.settings import *  # noqa: E402, F403
