"""Bounds on what one caller can cost: request budgets shared by every process, one full refresh
at a time, one queued fetch per city, and caps on the catalogue's size."""

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_celery_results.models import TaskResult

from access.budgets import budgets_clear
from access.models import ThrottleBudget
from access.tokens import api_token_issue
from task_queue.models import TaskClaim
from tests.fast.conftest import REPO, task_done
from tests.polling import early_in_a_window, wait_for
from weather.models import City, PipelineRun


def post(client, path, body=None):
    return client.post(path, body or {}, content_type="application/json")


def posted_at_once(client, path: str, *, times: int) -> list:
    """`times` POSTs to `path` from as many threads (each its own database connection), released together."""
    barrier, answers = threading.Barrier(times), []

    def ask():
        barrier.wait()
        answers.append(post(client, path))
        connection.close()

    threads = [threading.Thread(target=ask) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.fixture
def fresh_budgets(db):
    """Budgets and the per-city claims are shared by every process; a test that commits (one with
    transactional_db) would leave them to the next: start and end empty."""
    TaskClaim.objects.all().delete()
    budgets_clear()
    yield
    TaskClaim.objects.all().delete()
    budgets_clear()


def test_anonymous_callers_get_a_429_with_retry_after_in_the_json_contract(
    anonymous, fresh_budgets, settings
):
    settings.API_THROTTLE_ANON_RATE = "3/minute"
    statuses = [anonymous.get("/api/cities/").status_code for _ in range(3)]
    refused = anonymous.get("/api/cities/")
    assert statuses == [200, 200, 200] and refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    body = refused.json()
    assert body["message"].startswith("Request was throttled")
    assert body["extra"] == {"retry_after_seconds": int(refused["Retry-After"])}


def test_each_user_has_a_budget_of_their_own(api, staff_token, fresh_budgets, settings, django_user_model):
    settings.API_THROTTLE_USER_RATE = "2/minute"
    assert [api.get("/api/runs/").status_code for _ in range(3)] == [200, 200, 429]
    other = django_user_model.objects.create_superuser("other", "o@example.org", "a-long-password-1")
    other_client = api.__class__(headers={"Authorization": f"Token {api_token_issue(user=other)}"})
    assert other_client.get("/api/runs/").status_code == 200


def test_the_budget_is_shared_by_separate_processes(anonymous, transactional_db, fresh_budgets, settings):
    # Every gunicorn worker and web replica is another process: a budget spent here is spent there.
    settings.API_THROTTLE_ANON_RATE = "3/minute"
    assert [anonymous.get("/api/cities/").status_code for _ in range(3)] == [200, 200, 200]
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "print(Client(raise_request_exception=False).get('/api/cities/').status_code)"
    )
    env = {
        **os.environ,
        "POSTGRES_DB": connection.settings_dict["NAME"],
        "DJANGO_SETTINGS_MODULE": "tests.fast.settings",
        "API_THROTTLE_ANON_RATE": "3/minute",
        "PYTHONPATH": os.pathsep.join([str(REPO / "server"), str(REPO)]),
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "429"


def test_a_full_refresh_asked_for_while_one_is_open_returns_the_open_run(api, db):
    first = post(api, "/api/pipeline/refresh-all/")
    again = post(api, "/api/pipeline/refresh-all/")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.json()["task_id"] == first.json()["task_id"]
    PipelineRun.objects.update(state=PipelineRun.State.SUCCESS)
    after = post(api, "/api/pipeline/refresh-all/")
    assert after.status_code == 202 and after.json()["run_id"] != first.json()["run_id"]


def test_a_refresh_left_open_for_hours_is_not_joined(api, db):
    stale = PipelineRun.objects.create(kind=PipelineRun.Kind.REFRESH, task_id="lost", state="running")
    PipelineRun.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=4))
    response = post(api, "/api/pipeline/refresh-all/")
    assert response.status_code == 202 and response.json()["run_id"] != stale.id


def test_simultaneous_full_refresh_requests_start_one_fan_out(api, worker, stub):
    City.objects.bulk_create(City(name=f"Race {i}", latitude=i, longitude=i) for i in range(3))
    # Slow answers keep the run open while the requests race; the lock is what keeps them to one.
    stub.configure(latency_ms=3000)
    answers = posted_at_once(api, "/api/pipeline/refresh-all/", times=4)
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 202]
    assert len({a.json()["run_id"] for a in answers}) == 1
    run_id = answers[0].json()["run_id"]
    assert PipelineRun.objects.filter(kind="refresh").count() == 1
    wait_for(lambda: PipelineRun.objects.get(pk=run_id).finished_at, timeout=60, what="the run to close")


def test_a_city_whose_fetch_is_queued_is_not_queued_twice(api, db, fresh_budgets):
    city = City.objects.create(name="Oslo", country="NO", latitude=59.91, longitude=10.75)
    first = post(api, f"/api/cities/{city.id}/refresh/")
    again = post(api, f"/api/cities/{city.id}/refresh/")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["task_id"] == first.json()["task_id"]
    # The PENDING row is written in the request's transaction; a worker that ran the task marks it.
    pending = TaskResult.objects.filter(task_id=first.json()["task_id"], status="PENDING")
    assert pending.update(status="SUCCESS") == 1
    after = post(api, f"/api/cities/{city.id}/refresh/")
    assert after.status_code == 202 and after.json()["task_id"] != first.json()["task_id"]


def test_simultaneous_refreshes_of_one_city_queue_one_fetch(api, transactional_db, fresh_budgets):
    # Four requests in four connections at once: the claim's row lock makes three wait for the first
    # transaction, then join its task (task_queue/claims.py).
    city = City.objects.create(name="Bergen", country="NO", latitude=60.39, longitude=5.32)
    answers = posted_at_once(api, f"/api/cities/{city.id}/refresh/", times=4)
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 202]
    assert len({a.json()["task_id"] for a in answers}) == 1
    assert TaskResult.objects.filter(task_name="weather.tasks.fetch_weather_for_city").count() == 1


def test_a_queued_fetch_is_followed_to_its_end_then_a_new_one_may_start(api, worker, fresh_budgets):
    city = City.objects.create(name="Rome", country="IT", latitude=41.9, longitude=12.5)
    task_id = post(api, f"/api/cities/{city.id}/refresh/").json()["task_id"]
    task_done(task_id)
    response = post(api, f"/api/cities/{city.id}/refresh/")
    assert response.status_code == 202 and response.json()["task_id"] != task_id
    task_done(response.json()["task_id"])


def test_a_city_past_the_total_cap_is_a_409(api, db, settings):
    settings.CITIES_MAX_TOTAL = 1
    City.objects.create(name="Paris", country="FR", latitude=48.85, longitude=2.35)
    response = post(api, "/api/cities/", {"name": "Lyon", "latitude": 45.7, "longitude": 4.8})
    assert response.status_code == 409
    assert response.json()["extra"] == {"max_cities": 1}
    assert City.objects.count() == 1


def import_run(api, name: str, rows: list[str]) -> PipelineRun:
    from django.conf import settings

    (Path(settings.ETL_IMPORT_DIR) / name).write_text(
        "name,country,latitude,longitude\n" + "\n".join(rows) + "\n"
    )
    queued = post(api, "/api/pipeline/etl/", {"source": name}).json()
    task_done(queued["task_id"], timeout=60)
    return PipelineRun.objects.get(pk=queued["run_id"])


def test_an_import_adding_more_cities_than_one_import_may_loads_none(api, worker):
    # The worker runs with ETL_MAX_NEW_CITIES=3000 (tests/fast/settings.py).
    run = import_run(api, "many.csv", [f"Many {i},FR,{i % 80}.5,1.5" for i in range(3001)])
    assert run.state == "failure"
    assert (
        run.error_summary
        == "The import would add 3001 new cities; one import may add 3000 (ETL_MAX_NEW_CITIES)."
    )
    assert not City.objects.exists()
    assert not run.etl_rows.exists()


def test_an_import_that_would_overfill_the_catalogue_loads_none(api, worker):
    # The worker runs with CITIES_MAX_TOTAL=4000: 3,000 present plus 1,001 new is one too many.
    City.objects.bulk_create(City(name=f"Present {i}", latitude=1, longitude=1) for i in range(3000))
    rows = [f"Present {i},,1,1" for i in range(10)] + [f"New {i},FR,2,2" for i in range(1001)]
    run = import_run(api, "overfill.csv", rows)
    assert run.state == "failure" and "catalogue holds at most 4000" in run.error_summary
    assert City.objects.count() == 3000
    fits = import_run(api, "fits.csv", rows[:-1])
    assert fits.state == "success" and City.objects.count() == 4000


def test_bad_tokens_from_one_address_get_429_and_a_good_token_elsewhere_still_works(staff_token, db):
    # The default budget (API_THROTTLE_AUTH_FAILURE_RATE, 60/minute): the fast tier leaves it as is.
    attacker = Client(raise_request_exception=False, REMOTE_ADDR="198.51.100.7")
    bad = {"Authorization": "Token not-a-real-token"}
    early_in_a_window(needed=15)  # the 61 requests share one minute's budget
    statuses = [attacker.get("/api/runs/", headers=bad).status_code for _ in range(61)]
    assert statuses == [401] * 60 + [429]
    refused = attacker.get("/api/runs/", headers=bad)
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    elsewhere = Client(raise_request_exception=False, REMOTE_ADDR="198.51.100.8")
    assert elsewhere.get("/api/runs/", headers={"Authorization": f"Token {staff_token}"}).status_code == 200


def test_a_spent_admin_login_budget_survives_hundreds_of_other_budgets(staff_user, settings):
    # Django's DatabaseCache culled entries by key order past 300: a spent admin-login budget
    # came back when enough other clients had a budget of their own.
    # A day-long window: the 400 requests below take seconds, and a minute's window could end meanwhile
    # and give the budget back for the wrong reason (fixed windows reset at their boundary).
    settings.ADMIN_LOGIN_RATE = "2/day"
    browser = Client(REMOTE_ADDR="203.0.113.9")
    wrong = {"username": "staff", "password": "wrong"}
    assert [browser.post("/admin/login/", wrong).status_code for _ in range(3)] == [200, 200, 429]
    for i in range(400):
        assert Client(REMOTE_ADDR=f"10.9.{i // 200}.{i % 200}").get("/api/cities/").status_code == 200
    assert ThrottleBudget.objects.count() >= 401
    assert browser.post("/admin/login/", wrong).status_code == 429
