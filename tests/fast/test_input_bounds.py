"""Hostile input is a 400 in the JSON contract, never a 500: deep JSON, broken URLs, file names
the kernel refuses, loose types, and characters that make one name look like another."""

import pytest

from tests.fast.conftest import task_done
from weather.models import City, PipelineRun

DEEP_JSON = "[" * 1000 + "]" * 1000  # 2 KB


def post(client, path, body):
    return client.post(path, body, content_type="application/json")


@pytest.mark.parametrize("path", ["/api/cities/", "/api/pipeline/etl/"])
def test_json_nested_a_thousand_deep_is_a_400(api, db, path):
    response = post(api, path, DEEP_JSON)
    assert response.status_code == 400
    assert response.json() == {"message": "JSON parse error: the document is nested too deeply.", "extra": {}}


@pytest.mark.parametrize(
    "source",
    [
        "http://[::1/x",
        "http://example.org:99999/x.csv",
        "a" * 2000,
        "imports/" + "b" * 300 + "/c.csv",
        "x\u202ey.csv",
    ],
)
def test_a_malformed_etl_source_is_a_400_naming_the_field(api, db, source):
    response = post(api, "/api/pipeline/etl/", {"source": source})
    assert response.status_code == 400, response.content
    assert "source" in response.json()["extra"]["fields"]
    assert not PipelineRun.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Lyon", "latitude": True, "longitude": 4.8}, "latitude"),
        ({"name": "Lyon", "latitude": 45.7, "longitude": False}, "longitude"),
        ({"name": "Lyon", "latitude": "45.7", "longitude": 4.8}, "latitude"),
        ({"name": 12345, "latitude": 45.7, "longitude": 4.8}, "name"),
        ({"name": True, "latitude": 45.7, "longitude": 4.8}, "name"),
        ({"name": "Lyon", "timezone": 3, "latitude": 45.7, "longitude": 4.8}, "timezone"),
        ({"name": "Lyon", "country": 12, "latitude": 45.7, "longitude": 4.8}, "country"),
        ({"source": 7}, "source"),
    ],
)
def test_values_of_the_wrong_json_type_are_refused(api, db, body, field):
    path = "/api/pipeline/etl/" if "source" in body else "/api/cities/"
    response = post(api, path, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["extra"]["fields"]


@pytest.mark.parametrize(
    "name",
    [
        "Paris\u202e",
        "Par\u200bis",
        "\u2066Lyon\u2069",
        "Ly\u0007on",
        "Ly\u200don",
        "\ufeffNice",
        "Tou\u061clouse",
    ],
)
def test_control_bidi_and_zero_width_characters_are_refused_in_names(api, db, name):
    response = post(api, "/api/cities/", {"name": name, "latitude": 45.7, "longitude": 4.8})
    assert response.status_code == 400
    message = response.json()["extra"]["fields"]["name"][0]
    assert message.startswith("Names may not hold control, bidi or zero-width characters; found U+")
    assert not City.objects.exists()


def test_names_in_any_script_are_accepted(api, db):
    for i, name in enumerate(["Zürich", "Αθήνα", "東京", "São Paulo", "Kraków", "القاهرة"]):
        assert post(api, "/api/cities/", {"name": name, "latitude": i, "longitude": i}).status_code == 201


def test_an_imported_name_with_a_bidi_override_is_a_bad_row(api, worker, settings):
    from pathlib import Path

    csv = "name,latitude,longitude\nGood Town,1,1\nEvil\u202eTown,2,2\n"
    (Path(settings.ETL_IMPORT_DIR) / "bidi.csv").write_text(csv, encoding="utf-8")
    queued = post(api, "/api/pipeline/etl/", {"source": "bidi.csv"}).json()
    task_done(queued["task_id"], timeout=60)
    run = PipelineRun.objects.get(pk=queued["run_id"])
    assert (run.state, run.rows_invalid) == ("partial", 1)
    assert run.errors == [{"line": 3, "error": "name holds control, bidi or zero-width characters: U+202E"}]
    assert list(City.objects.values_list("name", flat=True)) == ["Good Town"]
