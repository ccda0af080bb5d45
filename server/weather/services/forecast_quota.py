"""The forecast requests' side of the shared API budget (server/quota/): what a request costs,
reserving it before the call, pausing every worker after a 429, and planning a full refresh that
does not fit in what is left of the day."""

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from quota.cost import request_cost
from quota.models import DEFAULT_BUDGET
from quota.selectors import quota_status
from quota.services import quota_pause, quota_reserve, quota_reserve_shares
from weather import selectors
from weather.errors import QuotaExhaustedError
from weather.openmeteo import CURRENT_VARIABLES, RateLimitedError


def forecast_cost(*, locations: int) -> Decimal:
    """Calls a current-conditions request for `locations` places costs."""
    return request_cost(locations=locations, variables=len(CURRENT_VARIABLES))


def forecast_quota_reserve(*, locations: int) -> None:
    """Spend the request's calls from the shared budget, or raise QuotaExhaustedError saying how
    long until it may have room. Called right before the request, by the worker that sends it."""
    reservation = quota_reserve(cost=forecast_cost(locations=locations))
    if not reservation.granted:
        raise QuotaExhaustedError(
            f"The weather API's budget has no room for {locations} locations now: {reservation.reason}",
            retry_after=reservation.wait_seconds,
            blocked_by=reservation.blocked_by,
        )


# What refreshes asked through the API have spent, all callers together, and each caller alone: rows
# of the quota table beside the API's own budget, charged when a fetch is queued, not when it runs.
ON_DEMAND_BUDGET = f"{DEFAULT_BUDGET}/on-demand"


def _caller_budget(caller: str) -> str:
    return f"{DEFAULT_BUDGET}/caller/{caller}"


def forecast_quota_reserve_on_demand(*, caller: str, locations: int) -> None:
    """Charge a refresh a caller asks for to the callers' part of the budget (all but
    WEATHER_QUOTA_SCHEDULE_RESERVE) and to the caller's own share (WEATHER_QUOTA_CALLER_SHARE),
    or raise QuotaExhaustedError (a 429) saying how long until it fits. The API's own budget is
    not spent here (the worker reserves it before the request) but must have room now: a fetch
    that would only wait in the queue is refused at once. Call it inside the transaction that
    queues the fetch, so a refusal rolls back every charge."""
    cost = forecast_cost(locations=locations)
    whose = {
        ON_DEMAND_BUDGET: "refreshes asked through the API",
        _caller_budget(caller): "one caller",
    }
    shares = [
        (ON_DEMAND_BUDGET, Decimal(str(1 - settings.WEATHER_QUOTA_SCHEDULE_RESERVE))),
        (_caller_budget(caller), Decimal(str(settings.WEATHER_QUOTA_CALLER_SHARE))),
    ]
    reservation = quota_reserve_shares(cost=cost, shares=shares)
    if reservation.granted:
        return
    wait = reservation.wait_seconds
    if reservation.budget in whose:
        message = (
            f"The part of the weather API's budget that {whose[reservation.budget]} may spend is used up "
            f"({reservation.reason}); the rest is kept for the scheduled refresh. "
            f"Try again in {math.ceil(wait)} s."
        )
    else:
        message = (
            f"The weather API's budget is spent until its {reservation.blocked_by} window turns; "
            f"try again in {math.ceil(wait)} s."
        )
    raise QuotaExhaustedError(message, retry_after=wait, blocked_by=reservation.blocked_by)


def forecast_rate_limited(exc: RateLimitedError) -> None:
    """The API answered 429: pause every worker, and make `exc` wait at least as long as the pause."""
    until = quota_pause(retry_after=exc.retry_after, reason=exc.reason)
    exc.retry_after = max(exc.retry_after or 0.0, until - time.time())


@dataclass(frozen=True)
class RefreshPlan:
    """The cities a full refresh fetches now, stalest first, and how many wait for the next day."""

    city_ids: list[int] = field(default_factory=list)
    total: int = 0
    deferred: int = 0
    deferred_until: datetime | None = None


def refresh_plan() -> RefreshPlan:
    """Every active city when the day's budget allows; otherwise the stalest ones it can pay for.

    The rest are deferred to the next day window; the next beat tick starts with them, since they
    are then the stalest. Minute and hour windows are not planned for: batches that do not fit
    them wait in the broker for the next window.
    """
    total = selectors.city_list(active=True).count()
    day = quota_status().window("day")
    affordable = math.floor(day.left / forecast_cost(locations=1)) if total else 0
    city_ids = selectors.city_stalest_active_ids(limit=min(total, affordable))
    deferred = total - len(city_ids)
    return RefreshPlan(
        city_ids=city_ids,
        total=total,
        deferred=deferred,
        deferred_until=day.resets_at if deferred else None,
    )
