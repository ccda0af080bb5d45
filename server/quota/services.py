"""Writes to the shared budget: reserve calls before a request, pause everyone after a 429."""

import logging
import time
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db import connection

from quota.models import DEFAULT_BUDGET, QuotaBudget
from quota.windows import Window, window_named_in, windows

logger = logging.getLogger(__name__)

# A pause is never shorter: a 429 that says "retry now" still means the budget is spent.
MIN_PAUSE_SECONDS = 1.0
_REASON_LIMIT = 300


class QuotaCostTooHighError(Exception):
    """A request costs more than a whole window allows: waiting cannot make it fit."""


@dataclass(frozen=True)
class Reservation:
    granted: bool
    # When refused: seconds until the budget can have room (the blocking window closes, the pause
    # ends), and what blocks it: "minute", "hour", "day" or "pause".
    wait_seconds: float = 0.0
    blocked_by: str = ""
    reason: str = ""
    budget: str = ""  # the budget that refused (quota_reserve_shares: the guard or one share)


def _column_sql(window: Window, table: str = "") -> tuple[str, str]:
    """The window's count as of the new index (0 when the row holds an older one), and its new index;
    `table` qualifies the columns.

    A row already at a later index (a host whose clock runs ahead wrote it) keeps that index, and
    its count: a lagging clock can never turn a window back and spend its calls twice.
    """
    name, column = window.name, f"{table}.{window.name}" if table else window.name
    used = f"(CASE WHEN {column}_window >= %({name})s THEN {column}_used ELSE 0 END)"
    index = f"(CASE WHEN {column}_window > %({name})s THEN {column}_window ELSE %({name})s END)"
    return used, index


def _reserve_sql() -> str:
    sets, checks = [], []
    for window in windows():
        used, index = _column_sql(window)
        sets += [f"{window.name}_used = {used} + %(cost)s", f"{window.name}_window = {index}"]
        checks.append(f"{used} + %(cost)s <= %({window.name}_limit)s")
    # Every SET expression reads the row as it was, so the order of the assignments does not matter.
    # Built from the model's table and column names only; every value is a parameter.
    return (
        f"UPDATE {QuotaBudget._meta.db_table} SET {', '.join(sets)} "  # noqa: S608
        f"WHERE name = %(name)s AND paused_until <= %(now)s AND {' AND '.join(checks)} "
        "RETURNING name"
    )


def _shares_sql(count: int) -> str:
    """One UPDATE of `count` share budgets (rows of VALUES: name, then each window's limit), only
    while every one exists and the guard budget is neither paused nor short of the cost."""
    table = QuotaBudget._meta.db_table
    sets, checks, guard_short = [], [], []
    for position, window in enumerate(windows()):
        used, index = _column_sql(window)
        sets += [f"{window.name}_used = {used} + %(cost)s", f"{window.name}_window = {index}"]
        checks.append(f"{used} + %(cost)s <= part.column{position + 2}")
        guard_used, _ = _column_sql(window, table="guard")
        guard_short.append(f"{guard_used} + %(cost)s > %({window.name}_limit)s")
    names = [f"%(share{n})s" for n in range(count)]
    rows = ", ".join(
        "(" + ", ".join([names[n], *(f"%(share{n}_{window.name})s" for window in windows())]) + ")"
        for n in range(count)
    )
    # Built from the model's table and column names only; every value is a parameter.
    return (
        f"UPDATE {table} SET {', '.join(sets)} FROM (VALUES {rows}) AS part "  # noqa: S608
        f"WHERE {table}.name = part.column1 AND paused_until <= %(now)s AND {' AND '.join(checks)} "
        f"AND (SELECT count(*) FROM {table} AS present WHERE present.name IN ({', '.join(names)})) = {count} "
        f"AND NOT EXISTS (SELECT 1 FROM {table} AS guard WHERE guard.name = %(guard)s "
        f"AND (guard.paused_until > %(now)s OR {' OR '.join(guard_short)})) "
        f"RETURNING {table}.name"
    )


def _cost_checked(cost: Decimal) -> Decimal:
    cost = Decimal(cost)
    for window in windows():
        if cost > window.limit:
            raise QuotaCostTooHighError(
                f"a request of {cost} calls exceeds the whole {window.name} budget of {window.limit}; "
                "send fewer locations per request (WEATHER_BATCH_SIZE)"
            )
    return cost


def quota_reserve(
    *, cost: Decimal, name: str = DEFAULT_BUDGET, share: Decimal = Decimal(1), now: float | None = None
) -> Reservation:
    """Spend `cost` calls from every window at once, or nothing when any window lacks room or the
    API is paused. One statement, so concurrent callers on any host never overspend together.

    `share` scales every window's limit: a budget of `name`'s own that may use only that fraction
    of the API's (one caller's share, say), counted in a row of its own.
    """
    now = time.time() if now is None else now
    cost = _cost_checked(cost)
    params = {"name": name, "now": now, "cost": cost}
    for window in windows():
        params[window.name] = window.index(now)
        params[f"{window.name}_limit"] = _limit(window, share, cost)
    for _ in range(2):
        if _try_reserve(params):
            return Reservation(granted=True)
        budget = QuotaBudget.objects.filter(name=name).first()
        if budget is not None:
            return _refusal(budget, cost, now, share)
        # The first reservation ever: create the row (a racing creator is harmless) and try again.
        QuotaBudget.objects.bulk_create([QuotaBudget(name=name)], ignore_conflicts=True)
    raise RuntimeError(f"the quota budget {name!r} cannot be created")


def quota_reserve_shares(
    *, cost: Decimal, shares: list[tuple[str, Decimal]], guard: str = DEFAULT_BUDGET, now: float | None = None
) -> Reservation:
    """Spend `cost` from each (name, share) budget, as quota_reserve would from each, but only while
    `guard` (the API's own budget, which this does not spend) could take `cost` now and is not
    paused. One statement for all: the on-demand path of a refresh pays one round trip, not one
    per budget plus a read of the guard (docs/performance.md, "The web path").

    Call it inside a transaction and roll it back on a refusal: a share with room may have been
    charged when another had none. A refusal's `budget` names who refused, the guard first.
    """
    now = time.time() if now is None else now
    cost = _cost_checked(cost)
    params: dict = {"now": now, "cost": cost, "guard": guard}
    for window in windows():
        params[window.name] = window.index(now)
        params[f"{window.name}_limit"] = Decimal(window.limit)
    for n, (name, share) in enumerate(shares):
        params[f"share{n}"] = name
        for window in windows():
            params[f"share{n}_{window.name}"] = _limit(window, share, cost)
    for _ in range(2):
        if _shares_charged(_shares_sql(len(shares)), params) == len(shares):
            return Reservation(granted=True)
        refusal = _shares_refusal(cost=cost, shares=shares, guard=guard, now=now)
        if refusal is not None:
            return refusal
        # A share's first reservation ever: create its row (a racing creator is harmless), try again.
        QuotaBudget.objects.bulk_create([QuotaBudget(name=name) for name, _ in shares], ignore_conflicts=True)
    raise RuntimeError(f"the quota budgets {[name for name, _ in shares]!r} cannot be created")


def _shares_charged(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(sql, params)
            return len(cursor.fetchall())
        # The transaction's commit need not wait for the WAL: see _try_reserve.
        cursor.execute("SET LOCAL synchronous_commit TO OFF; " + sql, params)
        cursor.nextset()
        return len(cursor.fetchall())


def _shares_refusal(*, cost: Decimal, shares: list[tuple[str, Decimal]], guard: str, now: float):
    """Why quota_reserve_shares charged nothing, read after the fact (the guard, then each share);
    None when a share's row does not exist yet."""
    budgets = {budget.name: budget for budget in QuotaBudget.objects.filter(name__in=[guard, *dict(shares)])}
    if guard in budgets:
        refusal = _refusal(budgets[guard], cost, now, Decimal(1))
        if refusal.blocked_by != "race":
            return replace(refusal, budget=guard)
    if any(name not in budgets for name, _ in shares):
        return None
    for name, share in shares:
        refusal = _refusal(budgets[name], cost, now, share)
        if refusal.blocked_by != "race":
            return replace(refusal, budget=name)
    return Reservation(granted=False, wait_seconds=0.0, blocked_by="race", reason="window turned")


def _limit(window: Window, share: Decimal, cost: Decimal) -> Decimal:
    """A share's part of the window, never less than the request: a share too small for one call
    still lets one through per window instead of refusing every request for ever."""
    return max(window.limit * share, cost)


def _try_reserve(params: dict) -> bool:
    """One round trip to PostgreSQL: under load each round trip waits to be scheduled, and a
    reservation sits before every request (docs/performance.md, "The API budget")."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(_reserve_sql(), params)
            return cursor.fetchone() is not None
        # Both statements in one query run as one implicit transaction. Its commit need not wait for
        # the WAL to reach the disk: a PostgreSQL crash may forget the last fraction of a second of
        # reservations, so one window could be overspent once by what was in flight, and the
        # provider's 429 would then pause every worker.
        cursor.execute("SET LOCAL synchronous_commit TO OFF; " + _reserve_sql(), params)
        cursor.nextset()
        return cursor.fetchone() is not None


def _refusal(budget: QuotaBudget, cost: Decimal, now: float, share: Decimal) -> Reservation:
    """Why a reservation was refused and how long until it may succeed (read after the fact: the
    answer only schedules the next attempt, which the UPDATE checks again)."""
    if budget.paused_until > now:
        return Reservation(
            granted=False,
            wait_seconds=budget.paused_until - now,
            blocked_by="pause",
            reason=f"the API is paused: {budget.pause_reason}",
        )
    blocking = []
    for window in windows():
        used, index = budget.spent(window, now)
        if used + cost > _limit(window, share, cost):
            blocking.append((window.start(index + 1) - now, window, used))
    if not blocking:  # the window turned between the UPDATE and this read: try again at once
        return Reservation(granted=False, wait_seconds=0.0, blocked_by="race", reason="window turned")
    wait, window, used = max(blocking, key=lambda item: item[0])
    return Reservation(
        granted=False,
        wait_seconds=wait,
        blocked_by=window.name,
        reason=f"{used} of {_limit(window, share, cost).normalize():f} calls of this {window.name} spent, "
        f"{cost} more asked",
    )


def quota_pause(
    *, retry_after: float | None, reason: str, name: str = DEFAULT_BUDGET, now: float | None = None
) -> float:
    """Stop every worker from calling the API after it answered 429; returns when the pause ends.

    Retry-After says how long when the API sends it; otherwise the window its reason names
    ("Hourly API request limit exceeded") closes. A pause only ever grows, so a late 429 with a
    short Retry-After cannot cut short a longer one.
    """
    now = time.time() if now is None else now
    if retry_after is not None:
        until = now + max(retry_after, MIN_PAUSE_SECONDS)
    else:
        until = max(window_named_in(reason).end(now), now + MIN_PAUSE_SECONDS)
    reason = reason[:_REASON_LIMIT]
    QuotaBudget.objects.bulk_create([QuotaBudget(name=name)], ignore_conflicts=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {QuotaBudget._meta.db_table} SET "  # noqa: S608 (a table name, not input)
            "pause_reason = CASE WHEN paused_until < %(until)s THEN %(reason)s ELSE pause_reason END, "
            "paused_until = CASE WHEN paused_until < %(until)s THEN %(until)s ELSE paused_until END "
            "WHERE name = %(name)s",
            {"until": until, "reason": reason, "name": name},
        )
    logger.warning("Open-Meteo calls paused for every worker for %.1f s: %s", until - now, reason)
    return until
