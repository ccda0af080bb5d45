from decimal import Decimal

from django.db import models

from quota.windows import Window

# The budget of the forecast API: the one this project spends.
DEFAULT_BUDGET = "open-meteo"


class QuotaBudget(models.Model):
    """The calls spent on one rate-limited API, shared by every worker process on every host.

    One row per API, so a reservation is a single conditional UPDATE of one row: PostgreSQL
    re-checks its WHERE against the newest version of the row when two workers race, so the sum of
    what they were granted never passes a limit. Each window is kept as the index of the window
    (seconds since the epoch divided by the window's length, so windows align on UTC minutes, hours
    and days) and the calls spent in it; a new index starts a new count.
    """

    name = models.CharField(max_length=64, primary_key=True)
    minute_window = models.BigIntegerField(default=0)
    minute_used = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    hour_window = models.BigIntegerField(default=0)
    hour_used = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    day_window = models.BigIntegerField(default=0)
    day_used = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    # Seconds since the epoch before which nobody calls the API (a 429 was answered); 0: no pause.
    paused_until = models.FloatField(default=0)
    pause_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        db_table = "quota_budget"

    def __str__(self) -> str:
        return f"quota of {self.name}"

    def spent(self, window: Window, now: float) -> tuple[Decimal, int]:
        """Calls spent in the window holding `now`, and that window's index: a later one, with its
        count, when a host whose clock runs ahead already moved the row on."""
        index = window.index(now)
        stored = getattr(self, f"{window.name}_window")
        if stored >= index:
            return Decimal(getattr(self, f"{window.name}_used")), stored
        return Decimal(0), index
