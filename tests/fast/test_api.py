"""Every endpoint's happy path and its bad inputs: a 4xx with a reason, never a 500."""

import uuid

import pytest
from django.test import Client

from tests.fast.conftest import task_done
from tests.polling import wait_for
from weather.models import City, PipelineRun, WeatherData


def post(api, path, body=None, **kwargs):
    return api.post(path, body if body is not None else {}, content_type="application/json", **kwargs)


@pytest.fixture
def paris(db):
    return City.objects.create(name="Paris", country="FR", latitude=48.8566, longitude=2.3522)


def test_healthz_answers_without_dependencies(api):
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_containers_health_probe_passes_when_allowed_hosts_names_only_the_public_site(settings):
    # An operator lists only the site's name; the probe still asks 127.0.0.1:8000 from inside.
    settings.ALLOWED_HOSTS = ["fbrain.example.org"]
    probe = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1:8000")
    assert probe.get("/healthz").status_code == 200
    # Anything else with that Host is still refused, and so is the probe's path passed on by nginx.
    assert probe.get("/readyz").status_code == 400
    assert probe.post("/healthz").status_code == 400
    forwarded = Client(raise_request_exception=False, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert forwarded.get("/healthz", HTTP_HOST="127.0.0.1").status_code == 400
    assert Client(HTTP_HOST="fbrain.example.org").get("/healthz").status_code == 200


def test_readyz_checks_database_and_broker(api, db):
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_is_503_when_the_broker_is_unreachable(api, db, monkeypatch):
    from server_config.celery import app

    monkeypatch.setitem(app.conf, "broker_write_url", "amqp://guest:guest@127.0.0.1:1//")
    response = api.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error")


def test_it_creates_a_city_with_coordinates(api, db):
    response = post(
        api, "/api/cities/", {"name": "Lyon", "country": "fr", "latitude": 45.76, "longitude": 4.83}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["country"], body["latitude"]) == ("Lyon", "FR", 45.76)
    assert City.objects.filter(pk=body["id"]).exists()


def test_it_geocodes_a_city_given_by_name(api, db, stub):
    response = post(api, "/api/cities/", {"name": "Paris", "country": "FR"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert abs(body["latitude"] - 48.85) < 0.1 and abs(body["longitude"] - 2.35) < 0.1
    assert body["timezone"] == "Europe/Paris"


def test_an_unknown_place_name_is_a_400_with_a_reason(api, db, stub):
    response = post(api, "/api/cities/", {"name": "Qwxzzyville"})
    assert response.status_code == 400
    assert "No place named 'Qwxzzyville'" in response.json()["message"]


def test_geocoding_down_is_a_503_not_a_500(api, db, settings):
    settings.GEOCODING_API_URL = "http://127.0.0.1:1/v1/search"
    response = post(api, "/api/cities/", {"name": "Paris"})
    assert response.status_code == 503
    assert "geocoding service is unavailable" in response.json()["message"]


def test_a_duplicate_city_is_a_409_naming_the_existing_one(api, paris):
    response = post(api, "/api/cities/", {"name": "Paris", "country": "FR", "latitude": 1, "longitude": 1})
    assert response.status_code == 409
    assert response.json()["extra"] == {"id": paris.id}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "Lyon", "latitude": 95, "longitude": 4}, "latitude"),
        ({"name": "Lyon", "latitude": 45, "longitude": 200}, "longitude"),
        ({"name": "Lyon", "latitude": "north", "longitude": 4}, "latitude"),
        ({"name": "Lyon", "country": "France", "latitude": 45, "longitude": 4}, "country"),
        ({"name": "Lyon", "latitude": 45}, "non_field_errors"),
        ({"name": ["Lyon"], "latitude": 45, "longitude": 4}, "name"),
    ],
)
def test_invalid_city_fields_are_a_400_naming_the_field(api, db, body, field):
    response = post(api, "/api/cities/", body)
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]


def test_a_body_that_is_not_json_is_a_400(api, db):
    response = api.post("/api/cities/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["message"]


@pytest.mark.parametrize("path", ["/api/cities/", "/api/pipeline/etl/"])
def test_an_oversized_body_is_a_413_naming_the_limit(api, db, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    response = post(api, path, {"name": "x" * 10_000, "latitude": 1, "longitude": 2})
    assert response.status_code == 413
    assert response.json() == {
        "message": "The request body is larger than 4096 bytes.",
        "extra": {"max_bytes": 4096},
    }
    assert not City.objects.exists()


def test_a_form_body_is_a_415(api, db):
    response = api.post("/api/cities/", {"name": "Lyon"})
    assert response.status_code == 415


def test_it_lists_cities_with_their_latest_reading(api, paris):
    response = api.get("/api/cities/?limit=10")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"][0]["name"] == "Paris"
    assert body["results"][0]["latest_temperature"] is None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "limit=abc", "offset=-1", "offset=9223372036854775808"]
)
def test_bad_paging_is_a_400(api, db, query):
    assert api.get(f"/api/cities/?{query}").status_code == 400


@pytest.mark.parametrize("path", ["/api/cities/{}/", "/api/cities/{}/weather/", "/api/runs/{}/"])
def test_an_id_beyond_the_database_range_is_a_404_not_a_500(api, db, path):
    assert api.get(path.format(2**70)).status_code == 404


def test_it_shows_one_city_and_404s_an_unknown_one(api, paris):
    assert api.get(f"/api/cities/{paris.id}/").json()["name"] == "Paris"
    response = api.get("/api/cities/999999/")
    assert response.status_code == 404
    assert response.json()["message"] == "City 999999 does not exist."
    assert api.get("/api/cities/99999999999999999999999/").status_code == 404


def test_refresh_answers_202_at_once_and_the_worker_stores_the_reading(api, worker):
    city = City.objects.create(name="Oslo", country="NO", latitude=59.91, longitude=10.75)
    response = post(api, f"/api/cities/{city.id}/refresh/")
    assert response.status_code == 202
    body = response.json()
    assert body["status_url"].endswith(f"/api/tasks/{body['task_id']}/")
    task_done(body["task_id"])
    status = api.get(f"/api/tasks/{body['task_id']}/").json()
    assert status["state"] == "SUCCESS"
    assert status["result"]["city_id"] == city.id
    assert status["worker"] == worker
    readings = api.get(f"/api/cities/{city.id}/weather/?limit=5").json()
    assert len(readings) == 1
    assert readings[0]["city"] == city.id


def test_a_task_known_before_a_worker_takes_it_is_pending(api, paris, celery_worker, transactional_db):
    # The result row is written before publishing, so the status URL never 404s.
    response = post(api, f"/api/cities/{paris.id}/refresh/")
    status = api.get(f"/api/tasks/{response.json()['task_id']}/")
    assert status.status_code == 200
    assert status.json()["state"] in {"PENDING", "STARTED", "SUCCESS", "FAILURE", "RETRY"}
    task_done(response.json()["task_id"])


def test_a_failed_task_shows_its_cause_without_a_traceback(api, worker, stub):
    city = City.objects.create(name="Rome", country="IT", latitude=41.9, longitude=12.5)
    stub.script([{"status": 400, "reason": "Latitude must be in range of -90 to 90°. Given: 91.0."}])
    task_id = post(api, f"/api/cities/{city.id}/refresh/").json()["task_id"]
    task_done(task_id)
    status = api.get(f"/api/tasks/{task_id}/").json()
    assert status["state"] == "FAILURE"
    assert status["error"].startswith(
        "PermanentAPIError: Open-Meteo refused the request (400): Latitude must"
    )
    assert "Traceback" not in str(status)


def test_unknown_and_malformed_task_ids_are_404(api, db):
    assert api.get(f"/api/tasks/{uuid.uuid4()}/").status_code == 404
    assert api.get("/api/tasks/not-a-uuid/").status_code == 404


def test_refresh_of_an_unknown_city_is_a_404(api, db):
    assert post(api, "/api/cities/424242/refresh/").status_code == 404


def test_weather_of_an_unknown_city_is_a_404(api, db):
    assert api.get("/api/cities/424242/weather/").status_code == 404


def test_refresh_all_answers_with_its_run_and_the_run_closes(api, worker):
    City.objects.bulk_create(City(name=f"C{i}", latitude=i, longitude=i) for i in range(7))
    response = post(api, "/api/pipeline/refresh-all/")
    assert response.status_code == 202
    body = response.json()
    run_url = f"/api/runs/{body['run_id']}/"
    assert body["run_url"].endswith(run_url)
    run = wait_for(lambda: (r := api.get(run_url).json())["state"] in ("success", "partial", "failure") and r)
    assert (run["cities_total"], run["cities_ok"], run["cities_failed"]) == (7, 7, 0)
    assert WeatherData.objects.count() == 7
    runs = api.get("/api/runs/?kind=refresh").json()
    assert runs["count"] == 1 and runs["results"][0]["id"] == body["run_id"]


def test_run_filters_and_unknown_runs(api, db):
    assert api.get("/api/runs/?kind=nonsense").status_code == 400
    assert api.get("/api/runs/31337/").status_code == 404


def test_etl_endpoint_queues_the_chain(api, worker, settings):
    from pathlib import Path

    (Path(settings.ETL_IMPORT_DIR) / "two.csv").write_text("name,latitude,longitude\nA,1,1\nB,2,2\n")
    response = post(api, "/api/pipeline/etl/", {"source": "two.csv"})
    assert response.status_code == 202, response.content
    task_done(response.json()["task_id"], timeout=60)
    run = PipelineRun.objects.get(pk=response.json()["run_id"])
    assert (run.state, run.rows_total, run.cities_ok) == ("success", 2, 2)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("ftp://example.org/cities.csv", "source scheme is not allowed: only http and https"),
        ("../../etc/passwd", "source is outside the import folder"),
        ("missing.csv", "no such file in the import folder"),
        ("http://", "source URL is not valid"),
        ("http://[::1/x", "source URL is not valid"),
        ("http://flower:5555/flower/metrics", "source host is not allowed"),
    ],
)
def test_etl_refuses_bad_sources(api, db, source, reason):
    response = post(api, "/api/pipeline/etl/", {"source": source})
    assert response.status_code == 400
    assert reason in response.json()["message"]
    assert not PipelineRun.objects.exists()


def test_no_endpoint_answers_a_wrong_method_with_a_500(api, db):
    assert api.delete("/api/cities/").status_code == 405
    assert api.get("/api/pipeline/refresh-all/").status_code == 405


def test_an_unknown_api_path_is_a_json_404(api, db):
    response = api.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json()["message"] == "No endpoint at /api/nothing-here/."
