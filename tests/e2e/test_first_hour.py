"""A new user's first hour, automated: docs/first-hour.md's commands run as written, in order, against
the stack the README's commands started (tests/conftest.py), then Flower and a real browser through nginx.
Tests run in file order on one stack."""

import re
import time

import pytest

from tests.e2e.guide import GuideRunner, guide_steps
from tests.polling import wait_for
from tests.stack.stack import REPO, STAFF_USER, readme_docker_commands

SCREENSHOTS = REPO / "build" / "e2e"
FINISHED = ("success", "partial", "failure")
STEPS = guide_steps()
ADMIN_PASSWORD = "first-hour-Pass-2026"  # the guide's


@pytest.fixture(scope="module")
def guide(stack):
    return GuideRunner(stack)


def run_finished(body: dict) -> bool:
    return body["state"] in FINISHED


def test_1_the_guide_starts_the_stack_the_readmes_way_and_it_is_ready(stack, guide):
    engine, copy, up, ready, superuser, token = STEPS[1]
    assert [engine, copy, up] == readme_docker_commands()[:3]  # what started this stack
    assert guide.json(ready)["checks"] == {"database": "ok", "broker": "ok"}
    assert "Superuser created successfully" in guide.run(superuser).stdout
    guide.run(token)
    assert len(guide.shell_vars["TOKEN"]) >= 32
    login = stack.http("GET", "/admin/login/")
    assert login.status == 200
    stylesheets = re.findall(rb'<link[^>]+href="([^"]+\.css)"', login.body)
    assert stylesheets
    for href in stylesheets:
        assert stack.http("GET", href.decode()).status == 200, href


def test_2_the_token_works_as_bearer_and_changes_without_one_are_refused(stack, guide):
    bearer = {"Authorization": f"Bearer {guide.shell_vars['TOKEN']}"}
    assert stack.http("GET", "/api/runs/", anonymous=True, headers=bearer).status == 200
    refused = stack.http(
        "POST", "/api/cities/", {"name": "Nobody", "latitude": 1, "longitude": 1}, anonymous=True
    )
    assert refused.status == 401
    unnamed = stack.run("make token", check=False)
    assert unnamed.returncode != 0 and "make token USER=<name>" in unnamed.stdout


def test_2_a_city_added_over_the_api_is_refreshed_and_its_reading_shows(guide):
    listing, create, refresh, status, weather, duplicate = STEPS[2]
    assert guide.json(listing)["count"] >= 320
    assert guide.json(create)["name"] == "Grenoble"
    assert "status_url" in guide.json(refresh)
    done = guide.poll(status, lambda task: task["state"] in ("SUCCESS", "FAILURE"), timeout=60)
    assert done["state"] == "SUCCESS", done
    readings = guide.json(weather)
    assert len(readings) == 1 and readings[0]["temperature"] is not None
    conflict = guide.json(duplicate)
    assert conflict["message"] == "Paris, FR already exists." and conflict["extra"]["id"]


def test_3_an_etl_import_reports_bad_rows_by_line_and_loads_the_rest(guide):
    write, copy, queue, status = STEPS[3]
    guide.run(write)
    guide.run(copy)
    assert "run_id" in guide.json(queue)
    run = guide.poll(status, run_finished)
    assert (run["state"], run["rows_total"], run["rows_invalid"], run["cities_ok"]) == ("partial", 3, 1, 2)
    assert [e["line"] for e in run["errors"]] == [4]
    assert "latitude 95 is outside -90..90" in run["errors"][0]["error"]


def test_4_every_city_refreshes_on_three_workers(stack, guide):
    seed, scale, refresh, status = STEPS[4]
    assert "0 created" in guide.run(seed).stdout
    total = stack.http("GET", "/api/cities/?limit=1").json()["count"]
    guide.run(scale)
    # A little latency per API request keeps every worker busy long enough for all three to take batches.
    stack.stub("/_stub/config", {"latency_ms": 300})
    assert "run_id" in guide.json(refresh)
    run = guide.poll(status, run_finished)
    assert (run["state"], run["cities_ok"], run["cities_failed"]) == ("success", total, 0)
    workers = stack.http("GET", "/flower/api/workers?refresh=1", auth=stack.flower_auth).json()
    assert len(workers) == 3 + 1  # and celery-imports, which serves the imports' queue only
    processed = {name: sum(info["stats"]["total"].values()) for name, info in workers.items()}
    assert all(count > 0 for count in processed.values()), processed


def test_5_flower_shows_workers_tasks_and_queues_behind_its_password(stack):
    assert stack.http("GET", "/flower/api/workers").status == 401
    tasks = stack.http("GET", "/flower/api/tasks?limit=1000", auth=stack.flower_auth).json()
    states = {task["name"]: task["state"] for task in tasks.values() if task.get("name")}
    assert states.get("weather.tasks.fetch_weather_batch") == "SUCCESS"
    assert states.get("weather.tasks.finish_refresh_run") == "SUCCESS"
    broker = stack.http("GET", "/flower/broker", auth=stack.flower_auth)
    assert broker.status == 200 and re.search(rb">\s*celery\s*<", broker.body)
    assert stack.http("GET", "/flower/metrics", auth=stack.flower_auth).status == 403


def test_6_beat_follows_a_schedule_shortened_in_the_database(stack):
    stack.compose(
        "exec", "-T", "web", "python", "manage.py", "shell", "-c",
        "from django_celery_beat.models import IntervalSchedule, PeriodicTask; "
        "task = PeriodicTask.objects.get(name='cleanup-old-weather-data'); "
        "task.interval, _ = IntervalSchedule.objects.get_or_create(every=3, period='seconds'); "
        "task.crontab = None; task.save()",
    )  # fmt: skip
    wait_for(
        lambda: (
            int(
                stack.sql(
                    "SELECT count(*) FROM django_celery_results_taskresult "
                    "WHERE periodic_task_name = 'cleanup-old-weather-data' AND status = 'SUCCESS'"
                )
            )
            >= 2
        ),
        timeout=90,
        what="beat to run the shortened schedule twice",
    )


def test_7_the_operator_targets_work_against_the_running_stack(guide):
    inspect, status, logs, purge = STEPS[7]
    out = guide.run(inspect).stdout
    assert "celery@" in out and "total" in out
    out = guide.run(status).stdout
    assert "4 nodes online" in out  # three workers and celery-imports
    assert "Weather API quota" in out and "used of 600" in out
    assert "Fetched weather for a batch" in guide.run(logs).stdout
    refused = guide.run(purge, input="no\n", check=False)
    assert refused.returncode != 0 and "Nothing deleted" in refused.stdout
    purged = guide.run(purge, input="purge\n")
    assert re.search(r"(Purged \d+ messages|No messages purged)", purged.stdout)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )  # fmt: skip
        yield browser
        browser.close()


def test_8_a_browser_refreshes_a_city_on_the_dashboard_and_opens_flower(stack, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(stack.url + "/")
    row = page.locator("tr", has=page.locator("a.chart-link", has_text="Grenoble"))
    # Logged out, the button says why and links to the login page, which leads back here.
    row.get_by_role("button", name="Refresh").click()
    row.locator(".status.failure", has_text="Log in to do this").wait_for(timeout=30_000)
    row.locator(".status a", has_text="Log in").click()
    page.fill("#id_username", STAFF_USER)
    page.fill("#id_password", stack.staff_password)
    page.click("input[type=submit]")
    page.wait_for_url(stack.url + "/")
    row.get_by_role("button", name="Refresh").click()
    row.locator(".status.success").wait_for(timeout=60_000)
    assert re.fullmatch(r"-?\d+\.\d °C", row.locator(".temp").inner_text())
    page.locator("#temperature-chart").wait_for()
    time.sleep(0.5)  # let Chart.js draw before the picture
    assert page.locator("#runs tbody tr").count() >= 2
    assert "Paris" in page.locator("#cities").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"))

    flower = browser.new_context(
        http_credentials={"username": "admin", "password": stack.flower_password},
        viewport={"width": 1280, "height": 800},
    ).new_page()
    flower.goto(stack.url + "/flower/")
    flower.get_by_text("celery@").first.wait_for(timeout=30_000)
    assert flower.locator("table").count() >= 1
    flower.screenshot(path=str(SCREENSHOTS / "flower.png"))
    for picture in ("dashboard.png", "flower.png"):
        assert (SCREENSHOTS / picture).stat().st_size > 10_000
