"""A local stand-in for Open-Meteo's forecast and geocoding APIs (stdlib only).

It speaks the real formats: one location answers with an object, several with an array in request
order whose items after the first carry `location_id`; errors are `{"error": true, "reason": ...}`.
Faults are injected at run time, in process (`OpenMeteoStub.configure/script`) or over HTTP
(`POST /_stub/config`, `/_stub/script`, `/_stub/reset`; `GET /_stub/stats`), so tests, benchmarks
and a container of the Compose stack can all make it misbehave.

Run alone: `python -m tests.openmeteo_stub --port 8080`, or `python server.py ...` when this file is
copied or mounted elsewhere (it imports nothing from its package).
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import math
import random
import signal
import sys
import threading
import time
import unicodedata
import zlib
from collections import Counter, defaultdict, deque
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
VARIABLES = tuple(k for k in CURRENT_UNITS if k not in ("time", "interval"))
MAX_LOCATIONS = 1000
TIME_FORMAT = "%Y-%m-%dT%H:%M"
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
_WMO_CODES = (0, 1, 2, 3, 45, 51, 61, 63, 71, 80, 95)
# code:English name:capital in the gazetteer (feature_code PPLC), for the geocoding answers.
_COUNTRIES = (
    "AE:United Arab Emirates:Abu Dhabi;AF:Afghanistan:Kabul;AL:Albania:Tirana;AM:Armenia:Yerevan;"
    "AO:Angola:Luanda;AR:Argentina:Buenos Aires;AT:Austria:Vienna;AU:Australia:Canberra;"
    "AZ:Azerbaijan:Baku;BA:Bosnia and Herzegovina:Sarajevo;BD:Bangladesh:Dhaka;BE:Belgium:Brussels;"
    "BF:Burkina Faso:Ouagadougou;BG:Bulgaria:Sofia;BH:Bahrain:Manama;BI:Burundi:;BJ:Benin:;"
    "BN:Brunei:Bandar Seri Begawan;BO:Bolivia:La Paz;BR:Brazil:Brasília;BT:Bhutan:Thimphu;"
    "BW:Botswana:Gaborone;BY:Belarus:Minsk;CA:Canada:Ottawa;CD:DR Congo:Kinshasa;"
    "CF:Central African Republic:Bangui;CG:Republic of the Congo:Brazzaville;CH:Switzerland:Bern;"
    "CI:Ivory Coast:;CL:Chile:Santiago;CM:Cameroon:Yaoundé;CN:China:Beijing;CO:Colombia:Bogotá;"
    "CR:Costa Rica:San José;CU:Cuba:Havana;CY:Cyprus:Nicosia;CZ:Czechia:Prague;DE:Germany:Berlin;"
    "DJ:Djibouti:Djibouti;DK:Denmark:Copenhagen;DO:Dominican Republic:Santo Domingo;"
    "DZ:Algeria:Algiers;EC:Ecuador:Quito;EE:Estonia:Tallinn;EG:Egypt:Cairo;ER:Eritrea:Asmara;"
    "ES:Spain:Madrid;ET:Ethiopia:Addis Ababa;FI:Finland:Helsinki;FJ:Fiji:Suva;FR:France:Paris;"
    "GA:Gabon:Libreville;GB:United Kingdom:London;GE:Georgia:Tbilisi;GH:Ghana:Accra;"
    "GL:Greenland:Nuuk;GN:Guinea:Conakry;GR:Greece:Athens;GT:Guatemala:Guatemala City;"
    "GY:Guyana:Georgetown;HK:Hong Kong:;HN:Honduras:Tegucigalpa;HR:Croatia:Zagreb;"
    "HT:Haiti:Port-au-Prince;HU:Hungary:Budapest;ID:Indonesia:Jakarta;IE:Ireland:Dublin;"
    "IL:Israel:Jerusalem;IN:India:Delhi;IQ:Iraq:Baghdad;IR:Iran:Tehran;IS:Iceland:Reykjavík;"
    "IT:Italy:Rome;JM:Jamaica:Kingston;JO:Jordan:Amman;JP:Japan:Tokyo;KE:Kenya:Nairobi;"
    "KG:Kyrgyzstan:Bishkek;KH:Cambodia:Phnom Penh;KP:North Korea:Pyongyang;KR:South Korea:Seoul;"
    "KW:Kuwait:Kuwait City;KZ:Kazakhstan:Astana;LA:Laos:Vientiane;LB:Lebanon:Beirut;"
    "LK:Sri Lanka:Colombo;LR:Liberia:Monrovia;LT:Lithuania:Vilnius;LU:Luxembourg:Luxembourg;"
    "LV:Latvia:Riga;LY:Libya:Tripoli;MA:Morocco:Rabat;MD:Moldova:Chișinău;ME:Montenegro:Podgorica;"
    "MG:Madagascar:Antananarivo;MK:North Macedonia:Skopje;ML:Mali:Bamako;MM:Myanmar:Naypyidaw;"
    "MN:Mongolia:Ulaanbaatar;MR:Mauritania:Nouakchott;MT:Malta:Valletta;MU:Mauritius:Port Louis;"
    "MV:Maldives:Malé;MW:Malawi:Lilongwe;MX:Mexico:Mexico City;MY:Malaysia:Kuala Lumpur;"
    "MZ:Mozambique:Maputo;NA:Namibia:Windhoek;NC:New Caledonia:Nouméa;NE:Niger:Niamey;"
    "NG:Nigeria:Abuja;NI:Nicaragua:Managua;NL:Netherlands:Amsterdam;NO:Norway:Oslo;"
    "NP:Nepal:Kathmandu;NZ:New Zealand:Wellington;OM:Oman:Muscat;PA:Panama:Panama City;PE:Peru:Lima;"
    "PG:Papua New Guinea:Port Moresby;PH:Philippines:Manila;PK:Pakistan:Islamabad;PL:Poland:Warsaw;"
    "PR:Puerto Rico:San Juan;PT:Portugal:Lisbon;PY:Paraguay:Asunción;QA:Qatar:Doha;"
    "RO:Romania:Bucharest;RS:Serbia:Belgrade;RU:Russia:Moscow;RW:Rwanda:Kigali;"
    "SA:Saudi Arabia:Riyadh;SB:Solomon Islands:Honiara;SD:Sudan:Khartoum;SE:Sweden:Stockholm;"
    "SG:Singapore:Singapore;SI:Slovenia:Ljubljana;SK:Slovakia:Bratislava;SL:Sierra Leone:Freetown;"
    "SN:Senegal:Dakar;SO:Somalia:Mogadishu;SR:Suriname:Paramaribo;SS:South Sudan:Juba;"
    "SV:El Salvador:San Salvador;SY:Syria:Damascus;TD:Chad:N'Djamena;TG:Togo:Lomé;"
    "TH:Thailand:Bangkok;TJ:Tajikistan:Dushanbe;TL:Timor-Leste:Dili;TM:Turkmenistan:Ashgabat;"
    "TN:Tunisia:Tunis;TO:Tonga:Nuku'alofa;TR:Turkey:Ankara;TW:Taiwan:Taipei;TZ:Tanzania:Dodoma;"
    "UA:Ukraine:Kyiv;UG:Uganda:Kampala;US:United States:Washington;UY:Uruguay:Montevideo;"
    "UZ:Uzbekistan:Tashkent;VE:Venezuela:Caracas;VN:Vietnam:Hanoi;VU:Vanuatu:Port Vila;WS:Samoa:Apia;"
    "YE:Yemen:Sana'a;ZA:South Africa:Pretoria;ZM:Zambia:Lusaka;ZW:Zimbabwe:Harare;"
)
COUNTRY_NAMES = {}
CAPITALS = set()
for _entry in filter(None, _COUNTRIES.split(";")):
    _code, _name, _capital = _entry.split(":")
    COUNTRY_NAMES[_code] = _name
    if _capital:
        CAPITALS.add((_capital, _code))


def current_slot(now: datetime | None = None) -> str:
    """The observation time Open-Meteo reports: GMT, rounded down to 15 minutes."""
    now = now or datetime.now(UTC)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0).strftime(TIME_FORMAT)


def expected_current(latitude: float, longitude: float, time_str: str) -> dict:
    """The deterministic conditions the stub reports for the coordinates asked for and a time."""
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


def grid_cell(latitude: float, longitude: float) -> tuple[float, float]:
    """The centre of the 0.1-degree cell holding a point: what the API answers instead of the point."""
    return _centre(latitude, 90.0), _centre(longitude, 180.0)


def _centre(value: float, limit: float) -> float:
    return round(min(max(math.floor(value * 10) / 10 + 0.05, 0.05 - limit), limit - 0.05), 2)


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a name: "Zürich" and "zurich" match."""
    decomposed = unicodedata.normalize("NFKD", text.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


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
                datetime.strptime(str(value), TIME_FORMAT)  # ValueError names the problem
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


class _State:
    """Configuration, script and statistics shared by the handler threads, behind one lock."""

    def __init__(self, gazetteer: Path | None):
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.wake = threading.Event()  # set to cut short every simulated delay in progress
        if gazetteer is not None and not Path(gazetteer).is_file():
            raise FileNotFoundError(f"no gazetteer at {gazetteer}")
        self.gazetteer = load_gazetteer(gazetteer or DEFAULT_GAZETTEER)
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


def load_gazetteer(path: Path | str | None) -> list[tuple[str, dict]]:
    """(folded name, geocoding result) per city of a CSV, most populous first."""
    if path is None or not Path(path).is_file():
        return []
    with Path(path).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    places = []
    for row in rows:
        name, code = row["name"].strip(), row["country"].strip().upper()
        latitude, longitude = float(row["latitude"]), float(row["longitude"])
        population = int(row.get("population") or 0)
        big = "PPLA" if population >= 1_000_000 else "PPL"  # an approximation: no admin data here
        feature_code = "PPLC" if (name, code) in CAPITALS else big
        place = {
            "id": zlib.crc32(f"{name}|{code}".encode()) % 10_000_000 + 1_000_000,
            "name": name,
            "latitude": latitude,
            "longitude": longitude,
            "elevation": float(zlib.crc32(name.encode()) % 400),
            "feature_code": feature_code,
            "country_code": code,
            "timezone": row.get("timezone", ""),
            "population": population,
            "country": COUNTRY_NAMES.get(code, code),
        }
        places.append((fold(name), {k: v for k, v in place.items() if v not in ("", None)}))
    places.sort(key=lambda entry: -entry[1].get("population", 0))
    return places


def parse_locations(query: dict) -> list[tuple[float, float]]:
    """The (latitude, longitude) pairs of a forecast query, validated like the real API."""
    if not query.get("latitude") or not query.get("longitude"):
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
        if not -90 <= lat <= 90:  # NaN fails too
            raise ValueError(f"Latitude must be in range of -90 to 90°. Given: {lat}.")
        if not -180 <= lon <= 180:
            raise ValueError(f"Longitude must be in range of -180 to 180°. Given: {lon}.")
    return list(zip(lats, lons, strict=True))


def parse_variables(query: dict) -> list[str]:
    variables = [v.strip() for v in query.get("current", "").split(",") if v.strip()]
    for variable in variables:
        if variable not in CURRENT_UNITS or variable in ("time", "interval"):
            raise ValueError(
                f"Cannot initialize WeatherVariable from invalid String value {variable} for key current"
            )
    return variables


def forecast_item(
    latitude: float, longitude: float, time_str: str, variables: list[str] | tuple[str, ...], index: int = 0
) -> dict:
    """One location's answer; `location_id` only when index is not 0, `current` only if variables."""
    cell_lat, cell_lon = grid_cell(latitude, longitude)
    item = {
        "latitude": cell_lat,
        "longitude": cell_lon,
        "generationtime_ms": 0.03,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": float(round(abs(latitude * longitude)) % 400),
    }
    if index:
        item["location_id"] = index
    if variables:
        conditions = expected_current(latitude, longitude, time_str)
        item["current_units"] = {k: CURRENT_UNITS[k] for k in ("time", "interval", *variables)}
        item["current"] = {"time": time_str, "interval": 900, **{v: conditions[v] for v in variables}}
    return item


# Serialized items without location_id, split where it goes: a 1000-location answer is then a join
# of cached strings (a few ms) instead of building and encoding 1000 dicts (tens of ms). The text is
# written directly (float repr is JSON's); tests check it decodes to forecast_item()'s dicts.
_FRAGMENTS: dict[tuple, tuple[str, str]] = {}
_FRAGMENTS_LIMIT = 20_000


@functools.lru_cache(maxsize=64)
def _units_json(variables: tuple[str, ...]) -> str:
    return _dumps_str({k: CURRENT_UNITS[k] for k in ("time", "interval", *variables)})


def _fragments(latitude: float, longitude: float, time_str: str, variables: tuple[str, ...]):
    key = (latitude, longitude, time_str, variables)
    found = _FRAGMENTS.get(key)
    if found is None:
        cell_lat, cell_lon = grid_cell(latitude, longitude)
        elevation = float(round(abs(latitude * longitude)) % 400)
        head = (
            f'{{"latitude":{cell_lat!r},"longitude":{cell_lon!r},"generationtime_ms":0.03,'
            f'"utc_offset_seconds":0,"timezone":"GMT","timezone_abbreviation":"GMT","elevation":{elevation!r}'
        )
        rest = "}"
        if variables:
            values = expected_current(latitude, longitude, time_str)
            rest = "".join(
                [
                    f',"current_units":{_units_json(variables)},"current":{{"time":{_dumps_str(time_str)}',
                    ',"interval":900',
                    *(f',"{name}":{values[name]!r}' for name in variables),
                    "}}",
                ]
            )
        found = (head, rest)
        if len(_FRAGMENTS) >= _FRAGMENTS_LIMIT:
            _FRAGMENTS.clear()
        _FRAGMENTS[key] = found
    return found


def forecast_body(
    locations: list[tuple[float, float]],
    variables: list[str],
    time_str: str,
    drop: int | None = None,
) -> bytes:
    """The JSON answer: an object for one location, else an array in request order without item `drop`."""
    names = tuple(variables)
    parts = []
    for index, (lat, lon) in enumerate(locations):
        if index == drop:
            continue
        head, rest = _fragments(lat, lon, time_str, names)
        parts.append(f'{head},"location_id":{index}{rest}' if index else head + rest)
    text = parts[0] if len(locations) == 1 else "[" + ",".join(parts) + "]"
    return text.encode()


def _dumps_str(payload) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _dumps(payload) -> bytes:
    return _dumps_str(payload).encode()


class _Handler(BaseHTTPRequestHandler):
    server_version = "openmeteo-stub/1.1"
    protocol_version = "HTTP/1.1"
    state: _State
    quiet = True

    def log_message(self, format, *args):
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    # --- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type="application/json; charset=utf-8", headers=None):
        self.state.count(urlsplit(self.path).path, status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload, headers=None):
        self._send(status, _dumps(payload), headers=headers)

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
            self._send(200, b"ok", "text/plain; charset=utf-8")
        else:
            self._error(404, f"No route for {parts.path}")

    def do_POST(self):
        path = urlsplit(self.path).path
        try:
            body = self._body()
            if path == "/_stub/config":
                self.state.configure(body or {})
            elif path == "/_stub/script":
                self.state.add_script(body or [])
            elif path == "/_stub/reset":
                self.state.reset()
            else:
                self._error(404, f"No route for {path}")
                return
        except (ValueError, TypeError) as exc:
            self._error(400, str(exc))
            return
        self._json(200, {"ok": True})

    def _forecast(self, query: dict) -> None:
        state = self.state
        try:
            locations = parse_locations(query)
            variables = parse_variables(query)
        except ValueError as exc:
            self._error(400, str(exc))
            return
        arrived = time.time()
        calls = len(locations) * max(1.0, len(variables) / 10)
        with state.lock:
            config = dict(state.config)
            override = state.script.popleft() if state.script else None
            rolls = [state.random.random() for _ in range(3)]
            state.forecast_requests += 1
            state.locations_requested += len(locations)
            state.recent.append(len(locations))
            window = math.floor(arrived / config["window_seconds"]) * config["window_seconds"]
            state.window_calls[window] += calls
            limit = config["limit_per_window"]
            if override is None and limit and state.window_calls[window] > limit:
                # Like the real API: refused once the window's calls (this request's included) pass it.
                override = {"status": 429, "retry_after": None}
            entry = [arrived, calls, None]
            state.log.append(entry)

        state.sleep(config["latency_ms"] / 1000)
        fault, status = _pick_fault(override, config, rolls)
        with state.lock:
            entry[2] = "timeout" if fault == "timeout" else status
        override = override or {}
        if fault == "timeout":
            state.sleep(float(override.get("timeout_seconds", config["timeout_seconds"])))
            state.count("/v1/forecast", "timeout")
            self.close_connection = True  # no answer at all: the client's read times out
            return
        if fault == "status":
            headers = {}
            retry_after = override.get("retry_after", config["retry_after"] if status == 429 else None)
            if retry_after is not None:
                headers["Retry-After"] = f"{float(retry_after):g}"
            self._error(status, override.get("reason") or REASONS.get(status, "Error"), headers)
            return
        rejected = next((loc for loc in locations if _rejected(loc, config["reject_locations"])), None)
        if rejected:
            self._error(400, f"Location {rejected[0]}, {rejected[1]} cannot be served")
            return

        drop = override.get("drop_location")
        if drop is None and len(locations) > 1 and rolls[2] < config["drop_location_rate"]:
            drop = int(rolls[2] / config["drop_location_rate"] * len(locations))
        if drop is not None:
            drop = int(drop) % len(locations) if len(locations) > 1 else None
        time_str = config["fixed_time"] or current_slot()
        body = forecast_body(locations, variables, time_str, drop)
        if fault == "malformed":
            body = body[: len(body) // 2]  # cut mid-stream, as a dropped connection would
        self._send(200, body)

    def _search(self, query: dict) -> None:
        try:
            count = int(query.get("count") or 10)
        except ValueError:
            self._error(400, "Parameter 'count' must be an integer")
            return
        if not 1 <= count <= 100:
            self._error(400, "Parameter 'count' must be between 1 and 100")
            return
        name = fold(query.get("name", ""))
        body: dict = {}
        if len(name) >= 2:
            results = [place for key, place in self.state.gazetteer if key.startswith(name)][:count]
            if results:  # Open-Meteo leaves the key out when nothing matches
                body["results"] = results
        body["generationtime_ms"] = 0.5
        self._json(200, body)


def _pick_fault(override: dict | None, config: dict, rolls: list[float]) -> tuple[str | None, int]:
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


def _rejected(location: tuple[float, float], rejected: list) -> bool:
    return any(abs(location[0] - lat) < 1e-6 and abs(location[1] - lon) < 1e-6 for lat, lon in rejected)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections
    request_queue_size = 256


class OpenMeteoStub:
    """The stand-in in a background thread, for tests: `with OpenMeteoStub() as stub: ...`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        gazetteer: Path | str | None = None,
        *,
        quiet: bool = True,
    ):
        self.state = _State(Path(gazetteer) if gazetteer else None)
        handler = type("Handler", (_Handler,), {"state": self.state, "quiet": quiet})
        self.httpd = _Server((host, port), handler)
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopped = False

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
        """Serve from a daemon thread; returns at once."""
        self._serving = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.1,), name="openmeteo-stub", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from the calling thread until stop() (from another thread or a signal handler)."""
        self._serving = True
        try:
            self.httpd.serve_forever(poll_interval=0.1)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and cut short any simulated latency or timeout in progress. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.state.stopping.set()
        self.state.wake.set()
        if self._serving and threading.current_thread() is not self._thread:
            self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def configure(self, **changes) -> None:
        """Merge configuration keys (see DEFAULT_CONFIG); ValueError on unknown keys or bad values."""
        self.state.configure(changes)

    def script(self, overrides: list[dict]) -> None:
        """Append per-request overrides, consumed one per forecast request in order."""
        self.state.add_script(overrides)

    def reset(self) -> None:
        """Configuration, script and statistics back to defaults; pending delays end at once."""
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
    parser.add_argument("--gazetteer", default=None, help="CSV: name,country,latitude,longitude,timezone,...")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every forecast request")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    stub = OpenMeteoStub(args.host, args.port, args.gazetteer, quiet=args.quiet)
    stub.configure(latency_ms=args.latency_ms)

    def on_signal(signum, _frame):
        sys.stderr.write(f"openmeteo-stub: {signal.Signals(signum).name}, stopping\n")
        # shutdown() waits for serve_forever(), which runs in this (the main) thread.
        threading.Thread(target=stub.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stderr.write(
        f"openmeteo-stub listening on {stub.base_url} ({len(stub.state.gazetteer)} places in the gazetteer)\n"
    )
    sys.stderr.flush()
    stub.serve_forever()
    sys.stderr.write("openmeteo-stub stopped\n")


if __name__ == "__main__":
    main()
