"""Reads of the shared budget: what is spent and left in each window, and any pause."""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from quota.models import DEFAULT_BUDGET, QuotaBudget
from quota.windows import windows


@dataclass(frozen=True)
class WindowStatus:
    name: str
    seconds: int
    limit: int
    used: Decimal
    left: Decimal
    resets_at: datetime


@dataclass(frozen=True)
class QuotaStatus:
    name: str
    windows: list[WindowStatus] = field(default_factory=list)
    paused_until: datetime | None = None
    pause_reason: str = ""

    def left(self) -> Decimal:
        """Calls that can be spent now: the smallest room of any window, none while paused."""
        if self.paused_until is not None:
            return Decimal(0)
        return min(window.left for window in self.windows)

    def window(self, name: str) -> WindowStatus:
        return next(window for window in self.windows if window.name == name)

    def blocker(self, cost: Decimal, now: float | None = None) -> tuple[float, str]:
        """Seconds until `cost` calls may fit and what blocks them (minute, hour, day or pause);
        (0, "") when they fit now. A reading, for a Retry-After: only a reservation spends."""
        now = time.time() if now is None else now
        waits = [(0.0, "")]
        if self.paused_until is not None:
            waits.append((self.paused_until.timestamp() - now, "pause"))
        waits += [(w.resets_at.timestamp() - now, w.name) for w in self.windows if w.left < cost]
        return max(waits)


def quota_status(*, name: str = DEFAULT_BUDGET, now: float | None = None) -> QuotaStatus:
    now = time.time() if now is None else now
    budget = QuotaBudget.objects.filter(name=name).first() or QuotaBudget(name=name)
    statuses = []
    for window in windows():
        used, index = budget.spent(window, now)
        statuses.append(
            WindowStatus(
                name=window.name,
                seconds=window.seconds,
                limit=window.limit,
                used=used,
                left=max(Decimal(0), window.limit - used),
                resets_at=datetime.fromtimestamp(window.start(index + 1), UTC),
            )
        )
    paused = budget.paused_until > now
    return QuotaStatus(
        name=name,
        windows=statuses,
        paused_until=datetime.fromtimestamp(budget.paused_until, UTC) if paused else None,
        pause_reason=budget.pause_reason if paused else "",
    )
