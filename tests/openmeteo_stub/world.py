"""The stand-in's made-up world: places, deterministic weather, and its answers' JSON.

Stdlib only and no import from its package, like the rest of the stub (see server.py).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import math
import unicodedata
import zlib
from datetime import UTC, datetime
from pathlib import Path

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


def dumps(payload) -> bytes:
    return _dumps_str(payload).encode()
