"""Settings of `make bench`: the fast tier's environment on a database of its own, with the
production batch size and timeouts."""

import os

for _name, _value in {
    "POSTGRES_DB": "fbrain_bench",
    "WEATHER_BATCH_SIZE": "100",
    "WEATHER_API_TIMEOUT": "10",
    "DJANGO_LOG_LEVEL": "WARNING",
}.items():
    os.environ.setdefault(_name, _value)

from tests.fast.settings import *  # noqa: E402, F403
