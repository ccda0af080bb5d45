"""A local stand-in for Open-Meteo's forecast and geocoding APIs (stdlib only).

It speaks the real formats: one location answers with an object, several with an array in request
order whose items after the first carry `location_id`; errors are `{"error": true, "reason": ...}`.
Faults are injected at run time, in process (`OpenMeteoStub.configure/script`) or over HTTP
(`POST /_stub/config`, `/_stub/script`, `/_stub/reset`; `GET /_stub/stats`), so tests, benchmarks
and a container of the Compose stack can all make it misbehave.

Run alone: python -m tests.openmeteo_stub --port 8080 (or python server.py when copied elsewhere).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import random
import signal
import sys
import threading
from collections import Counter, deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

CURRENT_UNITS = {
    "time": "iso8601",
    "interval": "seconds",
    "temperature_2m": "°C",
    "relative_humidity_2m": "%",
    "surface_pressure": "hPa",
    "wind_speed_10m": "km/h",
    "wind_direction_10m": "°",
    "weather_code": "wmo code",
}
MAX_LOCATIONS = 1000
# In the repository, the bundled city list; copied elsewhere alone, none unless --gazetteer names one.
_HERE = Path(__file__).resolve()
DEFAULT_GAZETTEER = (
    _HERE.parents[2] / "server" / "weather" / "data" / "cities.csv" if len(_HERE.parents) > 2 else None
)
DEFAULT_CONFIG = {
    "latency_ms": 0.0,
    "error_5xx_rate": 0.0,
    "timeout_rate": 0.0,
    "timeout_seconds": 30.0,
    "rate_429": 0.0,
    "retry_after": 1,
    "malformed_rate": 0.0,
    "drop_location_rate": 0.0,
    "seed": None,
    "fixed_time": None,
    "reject_locations": [],
}
_WMO_CODES = (0, 1, 2, 3, 45, 51, 61, 63, 71, 80, 95)


def current_slot(now: datetime | None = None) -> str:
    """The observation time Open-Meteo reports: GMT, rounded down to 15 minutes."""
    now = now or datetime.now(UTC)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0).strftime(
        "%Y-%m-%dT%H:%M"
    )


def expected_current(latitude: float, longitude: float, time_str: str) -> dict:
    """The deterministic conditions the stub reports for a location and time."""
    digest = hashlib.sha256(f"{latitude:.4f},{longitude:.4f},{time_str}".encode()).digest()
    r = [b / 255 for b in digest[:6]]
    return {
        "time": time_str,
        "interval": 900,
        "temperature_2m": round(30 - abs(latitude) * 0.5 + r[0] * 10 - 5, 1),
        "relative_humidity_2m": int(30 + r[1] * 70),
        "surface_pressure": round(980 + r[2] * 50, 1),
        "wind_speed_10m": round(r[3] * 40, 1),
        "wind_direction_10m": int(r[4] * 360),
        "weather_code": _WMO_CODES[int(r[5] * (len(_WMO_CODES) - 1))],
    }


class _State:
    def __init__(self, gazetteer: Path | None):
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.gazetteer = _load_gazetteer(gazetteer or DEFAULT_GAZETTEER)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = dict(DEFAULT_CONFIG, reject_locations=[])
            self.script: deque[dict] = deque()
            self.random = random.Random()
            self.counts: Counter = Counter()
            self.forecast_requests = 0
            self.locations_requested = 0
            self.recent: deque[int] = deque(maxlen=1000)

    def configure(self, changes: dict) -> None:
        unknown = set(changes) - set(DEFAULT_CONFIG)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        with self.lock:
            self.config.update(changes)
            if "seed" in changes:
                self.random.seed(changes["seed"])

    def stats(self) -> dict:
        with self.lock:
            return {
                "requests": dict(self.counts),
                "forecast_requests": self.forecast_requests,
                "locations_requested": self.locations_requested,
                "recent_location_counts": list(self.recent),
            }


def _load_gazetteer(path: Path | None) -> list[dict]:
    if path is None or not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    places = []
    for index, row in enumerate(rows):
        places.append(
            {
                "id": 1000 + index,
                "name": row["name"],
                "latitude": float(row["latitude"]),
                "longitude": float(row["longitude"]),
                "elevation": 50.0,
                "feature_code": "PPLC" if index % 3 == 0 else "PPLA",
                "country_code": row["country"],
                "timezone": row["timezone"],
                "population": int(row.get("population") or 0),
                "country": row["country"],
                "admin1": row["name"],
            }
        )
    return sorted(places, key=lambda p: -p["population"])


class _Handler(BaseHTTPRequestHandler):
    server_version = "openmeteo-stub/1.0"
    protocol_version = "HTTP/1.1"
    state: _State
    quiet = True

    def log_message(self, fmt, *args):
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    # --- plumbing ---------------------------------------------------------------------------
    def _send(
        self, status: int, body: bytes, content_type: str = "application/json; charset=utf-8", headers=None
    ):
        path = urlsplit(self.path).path
        with self.state.lock:
            self.state.counts[f"{path} {status}"] += 1
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload, headers=None):
        self._send(status, json.dumps(payload, ensure_ascii=False).encode(), headers=headers)

    def _error(self, status: int, reason: str, headers=None):
        self._json(status, {"error": True, "reason": reason}, headers)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    # --- routes -----------------------------------------------------------------------------
    def do_GET(self):
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if parts.path == "/v1/forecast":
            self._forecast(query)
        elif parts.path == "/v1/search":
            self._search(query)
        elif parts.path == "/_stub/stats":
            self._json(200, self.state.stats())
        elif parts.path == "/_stub/health":
            self._send(200, b"ok", "text/plain")
        else:
            self._error(404, f"no route {parts.path}")

    def do_POST(self):
        path = urlsplit(self.path).path
        try:
            body = self._body()
            if path == "/_stub/config":
                self.state.configure(body or {})
            elif path == "/_stub/script":
                with self.state.lock:
                    self.state.script.extend(body or [])
            elif path == "/_stub/reset":
                self.state.reset()
            else:
                self._error(404, f"no route {path}")
                return
        except (ValueError, TypeError) as exc:
            self._error(400, str(exc))
            return
        self._json(200, {"ok": True})

    def _forecast(self, query: dict) -> None:
        state = self.state
        with state.lock:
            config = dict(state.config)
            override = state.script.popleft() if state.script else {}
            roll = state.random.random()
        try:
            locations = _locations(query)
        except ValueError as exc:
            self._error(400, str(exc))
            return
        unknown = [v for v in query.get("current", "").split(",") if v and v not in CURRENT_UNITS]
        if unknown:
            self._error(400, f"Cannot initialize WeatherVariable from invalid String value {unknown[0]}")
            return
        with state.lock:
            state.forecast_requests += 1
            state.locations_requested += len(locations)
            state.recent.append(len(locations))

        if config["latency_ms"]:
            self._sleep(config["latency_ms"] / 1000)
        fault = _pick_fault(override, config, roll)
        if fault == "timeout":
            self._sleep(float(override.get("timeout_seconds", config["timeout_seconds"])))
            self.close_connection = True
            return
        if fault == "status":
            status = int(override.get("status") or 503)
            reason = override.get("reason") or {
                429: "Minutely API request limit exceeded. Please try again in one minute.",
                503: "The service is overloaded",
            }.get(status, "Internal error")
            headers = (
                {"Retry-After": str(override.get("retry_after", config["retry_after"]))}
                if status == 429
                else {}
            )
            self._error(status, reason, headers)
            return
        if fault == "malformed":
            self._send(200, b'[{"latitude": 52.52, "longitude": 13.41, "current": {"time": "20')
            return
        rejected = [loc for loc in locations if _matches(loc, config["reject_locations"])]
        if rejected:
            lat, lon = rejected[0]
            self._error(400, f"Location {lat}, {lon} is not supported")
            return

        time_str = config["fixed_time"] or current_slot()
        variables = [v for v in query.get("current", "").split(",") if v]
        items = [_item(index, lat, lon, time_str, variables) for index, (lat, lon) in enumerate(locations)]
        drop = override.get("drop_location")
        if drop is None and len(items) > 1 and state.random.random() < config["drop_location_rate"]:
            drop = state.random.randrange(len(items))
        if drop is not None and len(items) > 1:
            items.pop(int(drop))
        self._json(200, items[0] if len(locations) == 1 else items)

    def _search(self, query: dict) -> None:
        name = query.get("name", "").strip().casefold()
        try:
            count = int(query.get("count", "10"))
        except ValueError:
            self._error(400, "Parameter 'count' must be an integer")
            return
        if not 1 <= count <= 100:
            self._error(400, "Parameter count must be between 1 and 100.")
            return
        body: dict = {"generationtime_ms": 0.3}
        if len(name) >= 2:
            exact = [p for p in self.state.gazetteer if p["name"].casefold() == name]
            prefix = [
                p for p in self.state.gazetteer if p["name"].casefold().startswith(name) and p not in exact
            ]
            results = (exact + prefix)[:count]
            if results:  # Open-Meteo omits the key when nothing matches
                body["results"] = results
        self._json(200, body)

    def _sleep(self, seconds: float) -> None:
        # Interruptible, so stop() never waits for a simulated timeout to run out.
        self.state.stopping.wait(seconds)


def _pick_fault(override: dict, config: dict, roll: float) -> str | None:
    if override:
        if override.get("timeout"):
            return "timeout"
        if override.get("malformed"):
            return "malformed"
        if override.get("status"):
            return "status"
        return None
    thresholds = [
        ("status", config["error_5xx_rate"]),
        ("timeout", config["timeout_rate"]),
        ("status429", config["rate_429"]),
        ("malformed", config["malformed_rate"]),
    ]
    edge = 0.0
    for fault, rate in thresholds:
        edge += float(rate)
        if roll < edge:
            if fault == "status429":
                override.update(status=429)
                return "status"
            override.setdefault("status", 503)
            return fault
    return None


def _locations(query: dict) -> list[tuple[float, float]]:
    if "latitude" not in query or "longitude" not in query:
        raise ValueError("Parameter 'latitude' and 'longitude' must be set")
    try:
        lats = [float(v) for v in query["latitude"].split(",")]
        lons = [float(v) for v in query["longitude"].split(",")]
    except ValueError:
        raise ValueError("Parameter 'latitude' and 'longitude' must be floating point numbers") from None
    if len(lats) != len(lons):
        raise ValueError("Parameter 'latitude' and 'longitude' must have the same number of elements")
    if len(lats) > MAX_LOCATIONS:
        raise ValueError("Only up to 1000 locations can be requested at once")
    for lat, lon in zip(lats, lons, strict=True):
        if not -90 <= lat <= 90 or math.isnan(lat):
            raise ValueError(f"Latitude must be in range of -90 to 90°. Given: {lat}.")
        if not -180 <= lon <= 180 or math.isnan(lon):
            raise ValueError(f"Longitude must be in range of -180 to 180°. Given: {lon}.")
    return list(zip(lats, lons, strict=True))


def _matches(location: tuple[float, float], rejected: list) -> bool:
    return any(abs(location[0] - lat) < 1e-6 and abs(location[1] - lon) < 1e-6 for lat, lon in rejected)


def _item(index: int, lat: float, lon: float, time_str: str, variables: list[str]) -> dict:
    conditions = expected_current(lat, lon, time_str)
    item = {
        # The centre of Open-Meteo's grid cell, not the coordinates asked for.
        "latitude": round(math.floor(lat * 10) / 10 + 0.05, 6),
        "longitude": round(math.floor(lon * 10) / 10 + 0.05, 6),
        "generationtime_ms": 0.04,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 38.0,
    }
    if index:
        item["location_id"] = index
    item["current_units"] = {k: CURRENT_UNITS[k] for k in ("time", "interval", *variables)}
    item["current"] = {"time": time_str, "interval": 900, **{v: conditions[v] for v in variables}}
    return item


class OpenMeteoStub:
    """The stand-in in a background thread, for tests: `with OpenMeteoStub() as stub: ...`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, gazetteer: Path | str | None = None):
        self.state = _State(Path(gazetteer) if gazetteer else None)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="openmeteo-stub", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def forecast_url(self) -> str:
        return f"{self.base_url}/v1/forecast"

    @property
    def geocoding_url(self) -> str:
        return f"{self.base_url}/v1/search"

    def start(self) -> OpenMeteoStub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.state.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def configure(self, **changes) -> None:
        self.state.configure(changes)

    def script(self, overrides: list[dict]) -> None:
        with self.state.lock:
            self.state.script.extend(overrides)

    def reset(self) -> None:
        self.state.reset()

    def stats(self) -> dict:
        return self.state.stats()

    expected_current = staticmethod(expected_current)

    def __enter__(self) -> OpenMeteoStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--gazetteer", default=None, help="CSV of cities (name,country,latitude,longitude,...)"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    stub = OpenMeteoStub(args.host, args.port, args.gazetteer)
    stub.configure(latency_ms=args.latency_ms)
    _Handler.quiet = args.quiet
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=stub.stop).start())
    sys.stderr.write(f"openmeteo-stub listening on {stub.base_url}\n")
    try:
        stub.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stub.state.stopping.set()
        stub.httpd.server_close()


if __name__ == "__main__":
    main()
