"""The budget's windows: fixed intervals aligned on the epoch, so on UTC minutes, hours and days.

Open-Meteo's daily limit resets at midnight UTC; an interval whose length divides a day starts at a
multiple of its length since 1970-01-01T00:00Z, which is such a boundary. The lengths are settings
only so that a test can run a whole day of budget in seconds.
"""

import math
from dataclasses import dataclass

from django.conf import settings

# Words in the provider's 429 reasons that name the window that was exceeded.
_REASON_WORDS = {"minute": ("minutely", "minute"), "hour": ("hourly", "hour"), "day": ("daily", "day")}


@dataclass(frozen=True)
class Window:
    name: str  # minute, hour or day: the model's column prefix
    seconds: int
    limit: int

    def index(self, now: float) -> int:
        """The number of this window at `now` (seconds since the epoch)."""
        return math.floor(now / self.seconds)

    def start(self, index: int) -> float:
        return float(index * self.seconds)

    def end(self, now: float) -> float:
        """When the window holding `now` closes, so a new count begins."""
        return self.start(self.index(now) + 1)


def windows() -> tuple[Window, Window, Window]:
    return (
        Window("minute", settings.WEATHER_QUOTA_MINUTE_SECONDS, settings.WEATHER_QUOTA_PER_MINUTE),
        Window("hour", settings.WEATHER_QUOTA_HOUR_SECONDS, settings.WEATHER_QUOTA_PER_HOUR),
        Window("day", settings.WEATHER_QUOTA_DAY_SECONDS, settings.WEATHER_QUOTA_PER_DAY),
    )


def window_named_in(reason: str) -> Window:
    """The window a 429's reason names ("Hourly API request limit exceeded"); the minute by default,
    the shortest wait, since a reason that names none gives no better guess."""
    lowered = reason.lower()
    for window in reversed(windows()):
        if any(word in lowered for word in _REASON_WORDS[window.name]):
            return window
    return windows()[0]
