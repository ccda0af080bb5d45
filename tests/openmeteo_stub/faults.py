"""The stand-in's faults: its configuration, scripted overrides and statistics, and which fault a
request meets. Stdlib only; see server.py for how it is imported both as a package and as files.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, defaultdict, deque
from datetime import datetime
from pathlib import Path

if __package__:
    from . import world
else:  # run as files (`python server.py`), as the Compose stack's stub container does
    import world

# In the repository, the bundled city list; copied elsewhere alone, none unless --gazetteer names one.
_HERE = Path(__file__).resolve()
DEFAULT_GAZETTEER = (
    _HERE.parents[2] / "server" / "weather" / "data" / "cities.csv" if len(_HERE.parents) > 2 else None
)
DEFAULT_CONFIG = {
    "latency_ms": 0.0,  # added to every forecast request
    "error_5xx_rate": 0.0,  # probability of 503 (or 500/502)
    "timeout_rate": 0.0,  # probability of no answer for timeout_seconds
    "timeout_seconds": 30.0,
    "rate_429": 0.0,  # probability of 429 with Retry-After: retry_after
    "retry_after": 1,
    "malformed_rate": 0.0,  # probability of a 200 with a truncated body
    "drop_location_rate": 0.0,  # probability that a multi-location answer lacks one item
    "seed": None,
    "fixed_time": None,  # "YYYY-MM-DDTHH:MM" instead of the current 15-minute slot
    "reject_locations": [],  # [[lat, lon], ...]: any request containing one answers 400
    "window_seconds": 60,  # length of the windows calls are counted in (stats: calls_per_window)
    "limit_per_window": 0,  # calls a window allows before the stand-in answers 429 (0: no limit)
}
# Keys a scripted override may carry; {} means "answer normally" (it still uses up its turn).
SCRIPT_KEYS = {"status", "reason", "retry_after", "timeout", "timeout_seconds", "malformed", "drop_location"}
REASONS = {
    429: "Minutely API request limit exceeded. Please try again in one minute.",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "The service is overloaded",
}


def _check_config(changes: dict) -> dict:
    if not isinstance(changes, dict):
        raise ValueError("the configuration must be a JSON object")
    unknown = set(changes) - set(DEFAULT_CONFIG)
    if unknown:
        raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
    checked = {}
    for key, value in changes.items():
        if key == "seed":
            checked[key] = value
        elif key == "fixed_time":
            if value is not None:
                datetime.strptime(str(value), world.TIME_FORMAT)  # ValueError names the problem
            checked[key] = value
        elif key == "reject_locations":
            checked[key] = [(float(lat), float(lon)) for lat, lon in value or []]
        else:
            number = float(value)
            if not math.isfinite(number) or number < 0 or ("rate" in key and number > 1):
                raise ValueError(f"{key} out of range: {value!r}")
            if key == "window_seconds" and number == 0:
                raise ValueError("window_seconds must be positive")
            checked[key] = number
    return checked


def _check_script(overrides: list) -> list[dict]:
    if not isinstance(overrides, list) or not all(isinstance(o, dict) for o in overrides):
        raise ValueError("the script must be a JSON list of objects")
    for override in overrides:
        unknown = set(override) - SCRIPT_KEYS
        if unknown:
            raise ValueError(f"unknown script keys: {', '.join(sorted(unknown))}")
    return [dict(o) for o in overrides]


class State:
    """Configuration, script and statistics shared by the handler threads, behind one lock."""

    def __init__(self, gazetteer: Path | None):
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.wake = threading.Event()  # set to cut short every simulated delay in progress
        if gazetteer is not None and not Path(gazetteer).is_file():
            raise FileNotFoundError(f"no gazetteer at {gazetteer}")
        self.gazetteer = world.load_gazetteer(gazetteer or DEFAULT_GAZETTEER)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = dict(DEFAULT_CONFIG, reject_locations=[])
            self.script: deque[dict] = deque()
            self.random = random.Random()
            self.counts: defaultdict[str, Counter] = defaultdict(Counter)
            self.forecast_requests = 0
            self.locations_requested = 0
            self.recent: deque[int] = deque(maxlen=1000)
            # Calls (locations × the provider's variable weight) received per counting window, keyed
            # by the window's start (seconds since the epoch), and each request's arrival.
            self.window_calls: Counter = Counter()
            self.log: deque[list] = deque(maxlen=20_000)
            self.wake.set()
            self.wake = threading.Event()

    def configure(self, changes: dict) -> None:
        checked = _check_config(changes)
        with self.lock:
            self.config.update(checked)
            if "seed" in checked:
                self.random.seed(checked["seed"])

    def add_script(self, overrides: list) -> None:
        checked = _check_script(overrides)
        with self.lock:
            self.script.extend(checked)

    def arrive(self, locations: int, variables: int) -> tuple[dict, dict | None, list[float], list]:
        """Count a forecast request as it arrives: its configuration, its scripted override (a 429
        when its calls pass the window's limit, like the real API), its dice, and its log entry
        [arrival, calls, status] whose status the handler fills in."""
        arrived = time.time()
        calls = locations * max(1.0, variables / 10)
        with self.lock:
            config = dict(self.config)
            override = self.script.popleft() if self.script else None
            rolls = [self.random.random() for _ in range(3)]
            self.forecast_requests += 1
            self.locations_requested += locations
            self.recent.append(locations)
            window = math.floor(arrived / config["window_seconds"]) * config["window_seconds"]
            self.window_calls[window] += calls
            limit = config["limit_per_window"]
            if override is None and limit and self.window_calls[window] > limit:
                override = {"status": 429, "retry_after": None}
            entry = [arrived, calls, None]
            self.log.append(entry)
        return config, override, rolls, entry

    def count(self, path: str, status: int | str) -> None:
        with self.lock:
            self.counts[path][str(status)] += 1

    def stats(self) -> dict:
        with self.lock:
            return {
                "requests": {path: dict(counts) for path, counts in self.counts.items()},
                "forecast_requests": self.forecast_requests,
                "locations_requested": self.locations_requested,
                "recent_location_counts": list(self.recent),
                "script_pending": len(self.script),
                "calls_per_window": {str(k): v for k, v in sorted(self.window_calls.items())},
                "forecast_log": [list(entry) for entry in self.log],
                "config": dict(self.config),
            }

    def sleep(self, seconds: float) -> None:
        """A delay that stop() and reset() cut short, so no test waits for a simulated timeout."""
        if seconds > 0 and not self.stopping.is_set():
            self.wake.wait(seconds)


def pick_fault(override: dict | None, config: dict, rolls: list[float]) -> tuple[str | None, int]:
    """What goes wrong with this request: a scripted override wins over the configured rates."""
    if override is not None:
        if override.get("timeout"):
            return "timeout", 0
        if override.get("malformed"):
            return "malformed", 200
        if override.get("status") and int(override["status"]) != 200:
            return "status", int(override["status"])
        return None, 200
    edge = 0.0
    for fault, status, rate in (
        ("status", 503, config["error_5xx_rate"]),
        ("timeout", 0, config["timeout_rate"]),
        ("status", 429, config["rate_429"]),
        ("malformed", 200, config["malformed_rate"]),
    ):
        edge += rate
        if rolls[0] < edge:
            if status == 503:  # mostly "overloaded", sometimes a bare 500 or 502
                status = (503, 503, 500, 502)[int(rolls[1] * 4)]
            return fault, status
    return None, 200


def rejected_location(location: tuple[float, float], rejected: list) -> bool:
    return any(abs(location[0] - lat) < 1e-6 and abs(location[1] - lon) < 1e-6 for lat, lon in rejected)
