"""The one retry policy of the tasks: which errors earn another try, how many, and how long to wait.

Only named transient errors are retried, with exponential backoff and jitter whose base and ceiling
come from settings (WEATHER_RETRY_BACKOFF_SECONDS, WEATHER_RETRY_BACKOFF_MAX_SECONDS).
"""

import functools
import inspect
import random

from celery.utils.log import get_task_logger
from django.conf import settings
from django.db import InterfaceError, OperationalError

from weather.openmeteo import TransientAPIError

logger = get_task_logger("weather.tasks")

# A database restart or an overloaded API passes; a bad request or a missing row does not.
DATABASE_ERRORS = (OperationalError, InterfaceError)
TRANSIENT_ERRORS = (TransientAPIError, *DATABASE_ERRORS)
API_MAX_RETRIES = 3
# A database outage (a restart, a failover) outlasts an API hiccup: more retries, the same backoff,
# together about eight minutes with the default 2 s base before a task gives up.
DATABASE_MAX_RETRIES = 8
MIN_RETRY_DELAY = 1.0


def retry_countdown(retries: int, retry_after: float | None = None) -> float:
    """Seconds before retry number `retries + 1`: exponential, jittered, never before Retry-After."""
    ceiling = min(
        settings.WEATHER_RETRY_BACKOFF_MAX_SECONDS, settings.WEATHER_RETRY_BACKOFF_SECONDS * 2**retries
    )
    # Half fixed, half random: no immediate retries, and workers hit by one outage spread out.
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    # RabbitMQ's native delayed delivery (quorum queues) counts whole seconds, from 1.
    return max(delay, retry_after or 0.0, MIN_RETRY_DELAY)


def retry_budget(exc: Exception) -> int:
    return DATABASE_MAX_RETRIES if isinstance(exc, DATABASE_ERRORS) else API_MAX_RETRIES


def retry_later(task, exc: Exception, what: str):
    """The Retry to raise for a transient error; past the budget, Celery raises `exc` itself."""
    budget = retry_budget(exc)
    logger.warning("%s: %s (retry %d of %d)", what, exc, task.request.retries + 1, budget)
    countdown = retry_countdown(task.request.retries, getattr(exc, "retry_after", None))
    return task.retry(exc=exc, countdown=countdown, max_retries=budget)


def retried_on(errors: tuple[type[Exception], ...]):
    """Decorate a bound task's function so that `errors` it raises are retried under this policy."""

    def decorate(fun):
        @functools.wraps(fun)
        def run(task, *args, **kwargs):
            try:
                return fun(task, *args, **kwargs)
            except errors as exc:
                raise retry_later(task, exc, task.name) from exc

        # Celery checks a call's arguments against the signature it reads here, not through wraps.
        run.__signature__ = inspect.signature(fun)
        return run

    return decorate
