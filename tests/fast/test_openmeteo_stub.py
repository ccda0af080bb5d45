"""The Open-Meteo stand-in speaks the real API's formats and misbehaves on demand.

No Django and no database here: each test talks HTTP (urllib) to a stub started on a free port.
"""

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.openmeteo_stub import OpenMeteoStub, expected_current
from tests.openmeteo_stub.world import VARIABLES, forecast_body, forecast_item

ALL = ",".join(VARIABLES)
TIME = "2026-11-24T09:15"
BERLIN, PARIS, SYDNEY = (52.52, 13.41), (48.85, 2.35), (-33.87, 151.21)


@pytest.fixture(scope="module")
def running_stub():
    with OpenMeteoStub() as stub:
        yield stub


@pytest.fixture
def om(running_stub):
    running_stub.reset()
    yield running_stub
    running_stub.reset()


def get(url: str, timeout: float = 10.0) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def post(url: str, payload) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def forecast(stub, locations, current=ALL, timeout=10.0, **extra) -> tuple[int, dict, object]:
    params = {
        "latitude": ",".join(str(lat) for lat, _ in locations),
        "longitude": ",".join(str(lon) for _, lon in locations),
        **({"current": current} if current else {}),
        "timezone": "GMT",
        **extra,
    }
    status, headers, body = get(f"{stub.forecast_url}?{urlencode(params)}", timeout=timeout)
    return status, headers, json.loads(body)


def search(stub, name: str, count: int = 10) -> dict:
    query = urlencode({"name": name, "count": count, "language": "en", "format": "json"})
    status, _, body = get(f"{stub.geocoding_url}?{query}")
    assert status == 200
    return json.loads(body)


# --- forecast: formats ------------------------------------------------------------------------------


def test_it_answers_one_location_with_an_object(om):
    om.configure(fixed_time=TIME)
    status, headers, body = forecast(om, [BERLIN])
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert list(body) == [
        "latitude",
        "longitude",
        "generationtime_ms",
        "utc_offset_seconds",
        "timezone",
        "timezone_abbreviation",
        "elevation",
        "current_units",
        "current",
    ]
    assert (body["utc_offset_seconds"], body["timezone"], body["timezone_abbreviation"]) == (0, "GMT", "GMT")
    assert body["current_units"] == {
        "time": "iso8601",
        "interval": "seconds",
        "temperature_2m": "°C",
        "relative_humidity_2m": "%",
        "surface_pressure": "hPa",
        "wind_speed_10m": "km/h",
        "wind_direction_10m": "°",
        "weather_code": "wmo code",
    }
    assert body["current"] == expected_current(*BERLIN, TIME)
    assert isinstance(body["current"]["weather_code"], int)
    assert isinstance(body["current"]["relative_humidity_2m"], int)


def test_it_answers_with_the_grid_cell_centre_not_the_coordinates_asked_for(om):
    _, _, body = forecast(om, [BERLIN])
    assert (body["latitude"], body["longitude"]) != BERLIN
    assert abs(body["latitude"] - BERLIN[0]) < 0.1 and abs(body["longitude"] - BERLIN[1]) < 0.1


def test_it_answers_many_locations_with_an_array_in_request_order(om):
    om.configure(fixed_time=TIME)
    status, _, body = forecast(om, [BERLIN, PARIS, SYDNEY])
    assert status == 200 and isinstance(body, list) and len(body) == 3
    assert [item["current"] for item in body] == [
        expected_current(*loc, TIME) for loc in (BERLIN, PARIS, SYDNEY)
    ]
    assert [round(item["latitude"]) for item in body] == [53, 49, -34]


def test_it_omits_location_id_for_the_first_item(om):
    _, _, body = forecast(om, [BERLIN, PARIS, SYDNEY])
    assert "location_id" not in body[0]
    assert [item.get("location_id") for item in body] == [None, 1, 2]
    _, _, single = forecast(om, [BERLIN])
    assert "location_id" not in single


def test_it_reports_the_current_15_minute_slot_in_gmt(om):
    _, _, body = forecast(om, [BERLIN])
    observed = datetime.strptime(body["current"]["time"], "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
    assert observed.minute % 15 == 0 and body["current"]["interval"] == 900
    assert 0 <= (datetime.now(UTC) - observed).total_seconds() < 15 * 60 + 60


def test_it_returns_only_the_requested_variables(om):
    _, _, body = forecast(om, [BERLIN], current="temperature_2m,weather_code")
    assert list(body["current"]) == ["time", "interval", "temperature_2m", "weather_code"]
    assert list(body["current_units"]) == ["time", "interval", "temperature_2m", "weather_code"]
    _, _, bare = forecast(om, [BERLIN], current=None)
    assert "current" not in bare and "current_units" not in bare


def test_its_values_are_deterministic_and_plausible():
    first = expected_current(*BERLIN, TIME)
    assert first == expected_current(*BERLIN, TIME) != expected_current(*BERLIN, "2026-11-24T09:30")
    for lat in range(-90, 91, 15):
        values = expected_current(lat, lat * 2, TIME)
        assert -30 <= values["temperature_2m"] <= 40 and 30 <= values["relative_humidity_2m"] <= 100
        assert 980 <= values["surface_pressure"] <= 1030 and 0 <= values["wind_direction_10m"] <= 360
        assert values["temperature_2m"] == round(values["temperature_2m"], 1)


def test_its_cached_answer_text_decodes_to_the_documented_items():
    locations = [BERLIN, PARIS, SYDNEY, (90.0, 180.0), (-90.0, -180.0), (0.0, -0.0)]
    for variables in (list(VARIABLES), [], ["weather_code"]):
        for _ in range(2):  # the second pass reads the cache
            decoded = json.loads(forecast_body(locations, variables, TIME))
            assert decoded == [forecast_item(*loc, TIME, variables, i) for i, loc in enumerate(locations)]
        assert json.loads(forecast_body([PARIS], variables, TIME)) == forecast_item(*PARIS, TIME, variables)


def test_it_answers_1000_locations_in_one_request(om):
    locations = [(round(-80 + i * 0.16, 4), round(-170 + i * 0.34, 4)) for i in range(1000)]
    status, _, body = forecast(om, locations)
    assert status == 200 and len(body) == 1000 and body[-1]["location_id"] == 999
    assert om.stats()["locations_requested"] == 1000


# --- forecast: validation ----------------------------------------------------------------------------


def test_it_rejects_latitude_out_of_range_with_reason(om):
    status, _, body = forecast(om, [(91, 13.41)])
    assert status == 400
    assert body == {"error": True, "reason": "Latitude must be in range of -90 to 90°. Given: 91.0."}


def test_it_rejects_longitude_out_of_range_with_reason(om):
    status, _, body = forecast(om, [BERLIN, (10, -180.5)])
    assert status == 400 and body["reason"] == "Longitude must be in range of -180 to 180°. Given: -180.5."


@pytest.mark.parametrize(
    "query",
    [
        "longitude=13.4",
        "latitude=52.5",
        "latitude=abc&longitude=13.4",
        "latitude=&longitude=",
        "latitude=1,&longitude=1,2",
    ],
)
def test_it_rejects_missing_or_unparsable_coordinates(om, query):
    status, _, body = get(f"{om.forecast_url}?{query}&current=temperature_2m")
    body = json.loads(body)
    assert status == 400 and body["error"] is True and "latitude" in body["reason"].lower()


def test_it_rejects_different_counts_of_latitudes_and_longitudes(om):
    status, _, body = get(f"{om.forecast_url}?latitude=1,2,3&longitude=1,2&current=temperature_2m")
    assert status == 400 and "same number" in json.loads(body)["reason"]


def test_it_rejects_an_unknown_current_variable(om):
    status, _, body = forecast(om, [BERLIN], current="temperature_2m,temperature_3m")
    assert status == 400 and body["error"] is True and "temperature_3m" in body["reason"]


def test_it_rejects_more_than_1000_locations(om):
    status, _, body = forecast(om, [(1.0, 1.0)] * 1001)
    assert status == 400
    assert body == {"error": True, "reason": "Only up to 1000 locations can be requested at once"}
    assert om.stats()["forecast_requests"] == 0  # refused before it counts


# --- geocoding ---------------------------------------------------------------------------------------


def test_geocoding_finds_a_city_in_the_real_format(om):
    body = search(om, "Berlin", count=1)
    assert list(body) == ["results", "generationtime_ms"]
    (berlin,) = body["results"]
    assert {"id", "name", "latitude", "longitude", "elevation", "feature_code", "country_code"} <= set(berlin)
    assert (berlin["name"], berlin["country_code"], berlin["country"]) == ("Berlin", "DE", "Germany")
    assert berlin["feature_code"] == "PPLC" and berlin["timezone"] == "Europe/Berlin"
    assert abs(berlin["latitude"] - 52.52) < 0.05 and berlin["population"] > 3_000_000


def test_geocoding_matches_prefixes_ignoring_case_and_accents(om):
    assert search(om, "zurich")["results"][0]["name"] == "Zürich"
    assert search(om, "SÃO PAULO".replace("Ã", "A"))["results"][0]["name"] == "São Paulo"
    assert {r["name"] for r in search(om, "new")["results"]} >= {"New York", "New Orleans"}


def test_geocoding_orders_by_population_and_honours_count(om):
    results = search(om, "san", count=100)["results"]
    populations = [r["population"] for r in results]
    assert len(results) > 3 and populations == sorted(populations, reverse=True)
    assert len(search(om, "san", count=2)["results"]) == 2


def test_geocoding_without_match_has_no_results_key(om):
    body = search(om, "Qwxzzyville")
    assert "results" not in body and list(body) == ["generationtime_ms"]


def test_geocoding_finds_nothing_for_a_name_under_two_characters(om):
    assert "results" not in search(om, "P")
    assert "results" not in search(om, "")


def test_geocoding_rejects_a_count_out_of_range(om):
    status, _, body = get(f"{om.geocoding_url}?name=Paris&count=101")
    assert status == 400 and json.loads(body)["error"] is True


def test_geocoding_reads_the_gazetteer_it_is_given(tmp_path):
    csv = tmp_path / "places.csv"
    csv.write_text(
        "name,country,latitude,longitude,timezone,population\n"
        "Smallville,US,39.7800,-98.5800,America/Chicago,45001\n"
        "Smallton,GB,51.0000,-1.0000,Europe/London,900\n",
        encoding="utf-8",
    )
    with OpenMeteoStub(gazetteer=csv) as stub:
        names = [r["name"] for r in search(stub, "small")["results"]]
        assert names == ["Smallville", "Smallton"] and "results" not in search(stub, "Berlin")
    with pytest.raises(FileNotFoundError):
        OpenMeteoStub(gazetteer=tmp_path / "missing.csv")


def test_geocoding_uses_the_bundled_city_list_by_default(om):
    assert len(om.state.gazetteer) >= 200
    assert search(om, "Wellington")["results"][0]["country_code"] == "NZ"


# --- faults ------------------------------------------------------------------------------------------


def test_scripted_overrides_apply_in_order_then_normal_behaviour(om):
    om.script([{"status": 503}, {}, {"status": 500}])
    assert [forecast(om, [BERLIN])[0] for _ in range(4)] == [503, 200, 500, 200]
    om.script([{"status": 503}])
    status, _, body = forecast(om, [BERLIN])
    assert body == {"error": True, "reason": "The service is overloaded"}


def test_scripted_429_carries_retry_after(om):
    om.script([{"status": 429, "retry_after": 7}, {"status": 429}])
    status, headers, body = forecast(om, [BERLIN])
    assert status == 429 and headers["Retry-After"] == "7"
    assert body == {
        "error": True,
        "reason": "Minutely API request limit exceeded. Please try again in one minute.",
    }
    status, headers, _ = forecast(om, [BERLIN])
    assert status == 429 and headers["Retry-After"] == "1"  # the configured default


def test_scripted_429_without_retry_after_sends_no_header(om):
    om.script([{"status": 429, "retry_after": None, "reason": "Hourly API request limit exceeded."}])
    status, headers, body = forecast(om, [BERLIN])
    assert status == 429 and "Retry-After" not in headers
    assert body["reason"] == "Hourly API request limit exceeded."


def test_it_counts_calls_per_window_as_the_provider_weighs_them(om):
    # Six variables: one call per location; twelve would be 1.2 (there are only eight here: 1 each).
    om.configure(window_seconds=3600)
    forecast(om, [BERLIN, PARIS])
    forecast(om, [SYDNEY], current="temperature_2m")
    stats = om.stats()
    assert sum(stats["calls_per_window"].values()) == 3
    assert all(float(start) % 3600 == 0 for start in stats["calls_per_window"])
    assert [entry[1:] for entry in stats["forecast_log"]] == [[2, 200], [1, 200]]
    assert stats["forecast_log"][0][0] <= stats["forecast_log"][1][0]


def test_it_refuses_calls_past_the_window_limit_like_the_real_api(om):
    om.configure(window_seconds=3600, limit_per_window=3)
    assert forecast(om, [BERLIN, PARIS])[0] == 200
    status, headers, body = forecast(om, [BERLIN, PARIS])
    assert status == 429 and "Retry-After" not in headers
    assert body["reason"].startswith("Minutely API request limit exceeded")


def test_scripted_400_carries_its_reason(om):
    om.script([{"status": 400, "reason": "Parameter 'current' is invalid"}])
    status, _, body = forecast(om, [BERLIN])
    assert status == 400 and body == {"error": True, "reason": "Parameter 'current' is invalid"}


def test_scripted_malformed_answer_is_a_200_with_a_truncated_body(om):
    om.script([{"malformed": True}])
    status, _, body = get(f"{om.forecast_url}?latitude=1,2&longitude=1,2&current=temperature_2m")
    assert status == 200 and body.startswith(b"[{")
    with pytest.raises(ValueError):
        json.loads(body)


def test_scripted_timeout_sends_no_answer_before_the_client_gives_up(om):
    om.script([{"timeout": True, "timeout_seconds": 5}])
    started = time.monotonic()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        forecast(om, [BERLIN], timeout=0.3)
    assert time.monotonic() - started < 3
    assert forecast(om, [BERLIN])[0] == 200  # the next request is answered at once


def test_reset_cuts_short_a_simulated_timeout(om):
    om.configure(timeout_rate=1.0, timeout_seconds=60)
    outcome = []

    def client():
        try:
            forecast(om, [BERLIN], timeout=30)
        except Exception as exc:  # the connection closes without an answer
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=client)
    started = time.monotonic()
    thread.start()
    time.sleep(0.3)
    om.reset()
    thread.join(10)
    assert not thread.is_alive() and outcome and time.monotonic() - started < 10


def test_stop_cuts_short_a_simulated_timeout():
    stub = OpenMeteoStub().start()
    stub.configure(timeout_rate=1.0, timeout_seconds=60)
    outcome = []

    def client():
        try:
            forecast(stub, [BERLIN], timeout=30)
        except Exception as exc:
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=client)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    stub.stop()
    thread.join(10)
    assert not thread.is_alive() and outcome and time.monotonic() - started < 5


def test_drop_location_keeps_other_location_ids(om):
    om.script([{"drop_location": 1}])
    _, _, body = forecast(om, [BERLIN, PARIS, SYDNEY])
    assert [item.get("location_id") for item in body] == [None, 2]
    om.configure(drop_location_rate=1.0, seed=3)
    _, _, body = forecast(om, [BERLIN, PARIS, SYDNEY, (0, 0)])
    ids = [item.get("location_id", 0) for item in body]
    assert len(ids) == 3 and ids == sorted(ids) and set(ids) < {0, 1, 2, 3}
    _, _, single = forecast(om, [BERLIN])
    assert isinstance(single, dict)  # a single location is never dropped


def test_error_5xx_rate_answers_503_500_or_502(om):
    om.configure(error_5xx_rate=1.0, seed=1)
    statuses = {forecast(om, [BERLIN])[0] for _ in range(30)}
    assert 503 in statuses and statuses <= {500, 502, 503}


def test_rate_429_answers_with_the_configured_retry_after(om):
    om.configure(rate_429=1.0, retry_after=42)
    status, headers, body = forecast(om, [BERLIN])
    assert status == 429 and headers["Retry-After"] == "42" and body["error"] is True


def test_malformed_rate_answers_bodies_that_are_not_json(om):
    om.configure(malformed_rate=1.0)
    status, _, body = get(f"{om.forecast_url}?latitude=1&longitude=1&current=temperature_2m")
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)


def test_rates_mix_faults_in_proportion_and_a_seed_repeats_them(om):
    def run():
        om.reset()
        om.configure(error_5xx_rate=0.25, rate_429=0.25, seed=11)
        return [forecast(om, [BERLIN])[0] for _ in range(80)]

    first = run()
    assert first == run()
    ok, limited = first.count(200), first.count(429)
    assert 20 <= ok <= 60 and 8 <= limited <= 35


def test_latency_ms_delays_every_forecast_request(om):
    om.configure(latency_ms=300)
    started = time.monotonic()
    assert forecast(om, [BERLIN])[0] == 200
    assert time.monotonic() - started >= 0.3


def test_fixed_time_overrides_the_observation_time(om):
    om.configure(fixed_time="2030-01-01T00:45")
    _, _, body = forecast(om, [SYDNEY])
    assert body["current"] == expected_current(*SYDNEY, "2030-01-01T00:45")


def test_reject_locations_make_any_request_containing_one_a_400(om):
    om.configure(reject_locations=[list(PARIS)])
    status, _, body = forecast(om, [BERLIN, (48.8500001, 2.3500001), SYDNEY])
    assert status == 400 and body["error"] is True and "48.85" in body["reason"]
    assert forecast(om, [BERLIN, SYDNEY])[0] == 200


def test_configure_refuses_unknown_keys_and_bad_values(om):
    with pytest.raises(ValueError, match="unknown config keys: colour"):
        om.configure(colour="red")
    with pytest.raises(ValueError):
        om.configure(error_5xx_rate=1.5)
    with pytest.raises(ValueError):
        om.configure(rate_429=2)
    with pytest.raises(ValueError):
        om.configure(fixed_time="tomorrow")
    with pytest.raises(ValueError, match="window_seconds must be positive"):
        om.configure(window_seconds=0)
    with pytest.raises(ValueError, match="unknown script keys"):
        om.script([{"stauts": 503}])


# --- statistics and control over HTTP ---------------------------------------------------------------


def test_stats_count_requests_by_path_and_status_and_locations(om):
    om.script([{"status": 503}])
    forecast(om, [BERLIN, PARIS])
    forecast(om, [BERLIN, PARIS, SYDNEY])
    forecast(om, [(95, 0)])
    search(om, "Paris")
    stats = om.stats()
    assert stats["requests"]["/v1/forecast"] == {"503": 1, "200": 1, "400": 1}
    assert stats["requests"]["/v1/search"] == {"200": 1}
    assert stats["forecast_requests"] == 2 and stats["locations_requested"] == 5
    assert stats["recent_location_counts"] == [2, 3]
    assert [entry[2] for entry in stats["forecast_log"]] == [503, 200]


def test_control_endpoints_drive_the_stub_over_http(om):
    base = om.base_url
    status, _, body = get(f"{base}/_stub/health")
    assert (status, body) == (200, b"ok")
    fixed = "2001-02-03T04:45"
    assert post(f"{base}/_stub/config", {"fixed_time": fixed, "retry_after": 3}) == (200, {"ok": True})
    assert post(f"{base}/_stub/script", [{"status": 429}]) == (200, {"ok": True})
    status, headers, _ = forecast(om, [BERLIN])
    assert status == 429 and headers["Retry-After"] == "3"
    assert forecast(om, [BERLIN])[2]["current"]["time"] == fixed

    status, _, body = get(f"{base}/_stub/stats")
    stats = json.loads(body)
    assert status == 200 and stats["forecast_requests"] == 2 and stats["script_pending"] == 0

    assert post(f"{base}/_stub/reset", {}) == (200, {"ok": True})
    assert json.loads(get(f"{base}/_stub/stats")[2])["forecast_requests"] == 0
    assert forecast(om, [BERLIN])[2]["current"]["time"] != fixed


def test_control_endpoints_refuse_bad_input_with_400(om):
    status, body = post(f"{om.base_url}/_stub/config", {"bogus": 1})
    assert status == 400 and body == {"error": True, "reason": "unknown config keys: bogus"}
    assert post(f"{om.base_url}/_stub/script", {"status": 503})[0] == 400
    assert get(f"{om.base_url}/nowhere")[0] == 404


# --- running alone -----------------------------------------------------------------------------------


def test_server_file_runs_alone_and_exits_cleanly_on_sigterm(tmp_path):
    """As in the Compose stack: the package directory mounted by itself, server.py run as a script."""
    folder = tmp_path / "stub"
    folder.mkdir()
    for module in (Path(__file__).parents[1] / "openmeteo_stub").glob("*.py"):
        (folder / module.name).write_text(module.read_text("utf-8"), "utf-8")
    server = folder / "server.py"
    gazetteer = Path(__file__).parents[2] / "server" / "weather" / "data" / "cities.csv"
    process = subprocess.Popen(
        [sys.executable, str(server), "--host", "127.0.0.1", "--port", "0", "--gazetteer", str(gazetteer)],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stderr.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", banner).group(1))
        base = f"http://127.0.0.1:{port}"
        status, _, body = get(f"{base}/_stub/health")
        assert (status, body) == (200, b"ok")
        assert json.loads(get(f"{base}/v1/search?name=Oslo")[2])["results"][0]["country_code"] == "NO"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        log = process.stderr.read()
        assert '"GET /_stub/health HTTP/1.1" 200' in log and "stopped" in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
