"""The API budget in the real stack: four worker containers share one quota kept in PostgreSQL.

Its own stack, with a small limit and a 10-second window so a refresh of 1,000 cities spans several
windows in well under a minute. The Open-Meteo stand-in counts the calls it receives per window (the
same epoch-aligned 10-second windows: the containers share the host's clock) and logs each one.
"""

import json
import re
import subprocess

import pytest

from tests.polling import wait_for
from tests.stack.stack import REPO, running_stack
from tests.stack.test_quiet_tier import unexplained_error_lines

WINDOW = 10  # seconds
LIMIT = 250  # calls per window
BATCH = 25
CITIES = 1000
RETRY_AFTER = 5


@pytest.fixture(scope="module")
def quota_stack(tmp_path_factory):
    overrides = {
        "WEATHER_QUOTA_PER_MINUTE": str(LIMIT),
        "WEATHER_QUOTA_MINUTE_SECONDS": str(WINDOW),
        "WEATHER_QUOTA_PER_HOUR": "1000000",
        "WEATHER_QUOTA_PER_DAY": "1000000",
        "WEATHER_BATCH_SIZE": str(BATCH),
        # Four containers of one process each: four workers that share nothing but the database,
        # light enough for a shared two-core machine to start them healthy.
        "WORKER_CONCURRENCY": "1",
    }
    with running_stack(tmp_path_factory.mktemp("quota"), **overrides) as stack:
        stack.act_as_staff()  # refreshes and the budget are for staff
        # --no-deps: `up celery` would otherwise run the one-shot migrate job again. No --wait: on a
        # loaded machine the workers' health check (a Python start per ping) can outlast its
        # timeout; four workers answering one ping over the broker is what the tests need.
        stack.compose("up", "-d", "--no-deps", "--scale", "celery=4", "celery", timeout=300)
        wait_for(
            lambda: nodes_online(stack) >= worker_containers(stack) >= 4,
            timeout=300,
            interval=5,
            what="four worker containers to answer",
        )
        yield stack


def worker_containers(stack) -> int:
    """Running containers of the Celery services (the four scaled ones, and any other queue's)."""
    return sum(c["State"] == "running" and c["Service"].startswith("celery") for c in stack.containers())


def nodes_online(stack) -> int:
    out = stack.compose(
        "exec", "-T", "web", "celery", "-A", "server_config", "status", "--timeout", "10", check=False
    ).stdout
    found = re.search(r"(\d+) nodes? online", out)
    return int(found[1]) if found else 0


def finished_run(stack, run_id: int, timeout: float = 120) -> dict:
    return wait_for(
        lambda: (
            (run := stack.http("GET", f"/api/runs/{run_id}/").json())["state"]
            in ("success", "partial", "failure")
            and run
        ),
        timeout=timeout,
        what=f"refresh run {run_id}",
    )


def test_four_worker_containers_run(quota_stack):
    workers = [c for c in quota_stack.containers("celery") if c["State"] == "running"]
    assert len(workers) == 4
    assert nodes_online(quota_stack) >= worker_containers(quota_stack) >= 4


def test_a_refresh_of_1000_cities_spans_windows_and_never_overspends_one(quota_stack):
    stack = quota_stack
    # The seeded list plus cities made in SQL, as an import would add them, up to 1,000 in all.
    stack.sql(
        "INSERT INTO weather_city (name, country, latitude, longitude, timezone, active, created_at) "
        "SELECT 'Quota town ' || g, 'ZZ', -60 + (g * 0.137) % 120, -170 + (g * 0.291) % 340, '', true, "
        f"now() FROM generate_series(1, {CITIES} - (SELECT count(*) FROM weather_city)) AS g"
    )
    assert stack.sql("SELECT count(*) FROM weather_city WHERE active") == str(CITIES)
    # The stand-in counts in the same windows and, like the real API, refuses past the limit.
    stack.stub("/_stub/reset", {})
    stack.stub("/_stub/config", {"window_seconds": WINDOW, "limit_per_window": LIMIT})

    queued = stack.http("POST", "/api/pipeline/refresh-all/")
    assert queued.status == 202
    run = finished_run(stack, queued.json()["run_id"])
    assert run["state"] == "success", run
    assert (run["cities_ok"], run["cities_failed"], run["cities_deferred"]) == (CITIES, 0, 0)

    stats = stack.stub("/_stub/stats")
    per_window = {int(float(start)): calls for start, calls in stats["calls_per_window"].items()}
    assert max(per_window.values()) <= LIMIT, per_window
    assert sum(per_window.values()) == CITIES  # each city once: nothing refused, nothing repeated
    assert len(per_window) >= CITIES // LIMIT  # spread over several windows
    assert stats["requests"]["/v1/forecast"] == {"200": CITIES // BATCH}

    # Batches that found the window spent waited in the broker: each deferral logged with its
    # reason, none counted as a retry of the API.
    logs = stack.compose("logs", "--no-color", "celery").stdout
    assert re.search(r"deferred \d+ s, until .*: Batch of 25 cities: .* minute", logs)
    assert "(retry " not in logs

    quota = stack.http("GET", "/api/quota/").json()
    assert [w["name"] for w in quota["windows"]] == ["minute", "hour", "day"]
    assert quota["windows"][2]["used"] == CITIES


def test_a_429_stops_every_worker_until_its_retry_after_has_passed(quota_stack):
    stack = quota_stack
    # Sixty cities stay active: a single refresh meets the 429, then a full refresh of three
    # batches is queued while the pause holds, across the four worker containers.
    stack.sql("UPDATE weather_city SET active = (id IN (SELECT id FROM weather_city ORDER BY id LIMIT 60))")
    stack.stub("/_stub/reset", {})
    stack.stub("/_stub/config", {"window_seconds": WINDOW, "limit_per_window": LIMIT})
    stack.stub("/_stub/script", [{"status": 429, "retry_after": RETRY_AFTER}])
    wait_for(lambda: stack.http("GET", "/api/quota/").json()["left"] > BATCH, timeout=30, what="room")

    city_id = int(stack.sql("SELECT min(id) FROM weather_city"))
    single = stack.http("POST", f"/api/cities/{city_id}/refresh/")
    assert single.status == 202, single.body
    paused = wait_for(
        lambda: (q := stack.http("GET", "/api/quota/").json())["paused_until"] and q,
        timeout=30,
        what="the 429 to pause the budget",
    )
    assert paused["left"] == 0

    # While paused, the API refuses a single refresh with Retry-After, and a full refresh waits.
    refused = stack.http("POST", f"/api/cities/{city_id + 1}/refresh/")
    assert refused.status == 429 and 1 <= int(refused.headers["Retry-After"]) <= RETRY_AFTER
    queued = stack.http("POST", "/api/pipeline/refresh-all/").json()
    run = finished_run(stack, queued["run_id"])
    assert run["state"] == "success" and run["cities_ok"] == 60, run
    task = wait_for(
        lambda: (
            (t := stack.http("GET", f"/api/tasks/{single.json()['task_id']}/").json())["state"]
            in ("SUCCESS", "FAILURE")
            and t
        ),
        timeout=60,
        what="the single refresh",
    )
    assert task["state"] == "SUCCESS", task

    log = stack.stub("/_stub/stats")["forecast_log"]
    refused_at = next(arrived for arrived, _, status in log if status == 429)
    after = [arrived for arrived, _, status in log if arrived > refused_at]
    assert len(after) == 1 + 3  # the single city's retry and the three batches
    assert min(after) >= refused_at + RETRY_AFTER, json.dumps(log)


def test_make_status_prints_the_budget(quota_stack):
    compose = " ".join(quota_stack.compose_args())
    status = subprocess.run(
        ["make", "--no-print-directory", "status", f"COMPOSE={compose}"],
        cwd=REPO, input="", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert re.search(r"\d+ nodes online", status.stdout)
    assert "Weather API quota" in status.stdout and f"used of {LIMIT}" in status.stdout


def test_the_quota_stack_logged_no_error_while_the_provider_refused(quota_stack):
    # The stand-in's 429s are the fault this stack injects: the workers log them as warnings and
    # pause, which is the designed path, so no line at ERROR or worse is expected from any service.
    assert unexplained_error_lines(quota_stack) == {}
