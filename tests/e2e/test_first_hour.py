"""A new user's first hour, automated: everything through nginx's published port, Flower, the
Makefile's operator targets and a real browser. Tests run in file order on one stack."""

import re
import subprocess
import time

import pytest

from tests.polling import wait_for
from tests.stack.stack import REPO

SCREENSHOTS = REPO / "build" / "e2e"
FINISHED = ("success", "partial", "failure")


def wait_for_run(stack, run_id: int, timeout: float = 180) -> dict:
    return wait_for(
        lambda: (run := stack.http("GET", f"/api/runs/{run_id}/").json())["state"] in FINISHED and run,
        timeout=timeout,
        what=f"run {run_id} to finish",
    )


def make(stack, target: str, stdin: str = "") -> subprocess.CompletedProcess:
    compose = " ".join(stack.compose_args())
    return subprocess.run(
        ["make", "--no-print-directory", target, f"COMPOSE={compose}"],
        cwd=REPO, input=stdin, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_1_the_site_is_ready_and_the_admin_login_loads_with_its_styles(stack):
    assert stack.http("GET", "/readyz").status == 200
    login = stack.http("GET", "/admin/login/")
    assert login.status == 200
    stylesheets = re.findall(rb'<link[^>]+href="([^"]+\.css)"', login.body)
    assert stylesheets
    for href in stylesheets:
        assert stack.http("GET", href.decode()).status == 200, href


def test_2_a_city_created_over_the_api_is_refreshed_and_its_reading_shows(stack):
    geocoded = stack.http("POST", "/api/cities/", {"name": "Paris", "country": "FR"})
    assert geocoded.status == 201, geocoded.body
    assert geocoded.json()["timezone"] == "Europe/Paris"
    city = stack.http(
        "POST", "/api/cities/", {"name": "Firsthour", "latitude": 45.0, "longitude": 5.0}
    ).json()
    task = stack.http("POST", f"/api/cities/{city['id']}/refresh/").json()
    done = wait_for(
        lambda: (
            (t := stack.http("GET", f"/api/tasks/{task['task_id']}/").json())["state"]
            in ("SUCCESS", "FAILURE")
            and t
        ),
        timeout=60,
        what="the refresh",
    )
    assert done["state"] == "SUCCESS", done
    readings = stack.http("GET", f"/api/cities/{city['id']}/weather/").json()
    assert len(readings) == 1 and readings[0]["temperature"] is not None


def test_3_an_etl_import_reports_bad_rows_by_line_and_loads_the_rest(stack, tmp_path):
    rows = ["name,country,latitude,longitude,timezone"]
    rows += [f"Etl Town {i},FR,{44 + i * 0.01:.4f},{4 + i * 0.01:.4f},Europe/Paris" for i in range(50)]
    rows += ["Bad Lat,FR,95,4,", "Bad Lon,FR,45,abc,", ",FR,45,4,", "Bad Zone,FR,45,4,Mars/Base"]
    csv_file = tmp_path / "towns.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    # The operator's way in: copy the file into the shared import folder, then ask for the import.
    stack.compose("cp", str(csv_file), "web:/app/var/imports/towns.csv")
    queued = stack.http("POST", "/api/pipeline/etl/", {"source": "towns.csv"})
    assert queued.status == 202, queued.body
    run = wait_for_run(stack, queued.json()["run_id"])
    assert (run["state"], run["rows_total"], run["rows_invalid"], run["cities_ok"]) == ("partial", 54, 4, 50)
    assert [e["line"] for e in run["errors"]] == [52, 53, 54, 55]
    assert "latitude 95 is outside -90..90" in run["errors"][0]["error"]


def test_4_seeded_cities_refresh_on_three_workers(stack):
    assert "created" in make(stack, "seed").stdout
    total = stack.http("GET", "/api/cities/?limit=1").json()["count"]
    assert total >= 200
    stack.compose("up", "-d", "--wait", "--wait-timeout", "180", "--scale", "celery=3", timeout=240)
    stack.compose(
        "exec", "-T", "openmeteo", "python", "-c",
        "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:8080/_stub/config', "
        "data=b'{\"latency_ms\": 300}', method='POST'))",
    )  # fmt: skip
    queued = stack.http("POST", "/api/pipeline/refresh-all/").json()
    run = wait_for_run(stack, queued["run_id"])
    assert (run["state"], run["cities_ok"], run["cities_failed"]) == ("success", total, 0)
    workers = stack.http("GET", "/flower/api/workers?refresh=1", auth=stack.flower_auth).json()
    assert len(workers) == 3
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


def test_7_the_operator_targets_work_against_the_running_stack(stack):
    inspect = make(stack, "inspect")
    assert inspect.returncode == 0, inspect.stderr
    assert "celery@" in inspect.stdout and "total" in inspect.stdout
    status = make(stack, "status")
    assert status.returncode == 0 and "3 nodes online" in status.stdout
    assert "Weather API quota" in status.stdout and "used of 600" in status.stdout
    logs = make(stack, "logs-celery")
    assert "Fetched weather for a batch" in logs.stdout
    refused = make(stack, "purge", stdin="no\n")
    assert refused.returncode != 0 and "Nothing deleted" in refused.stdout
    purged = make(stack, "purge", stdin="purge\n")
    assert purged.returncode == 0, purged.stderr
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
    row = page.locator("tr", has=page.locator("a.chart-link", has_text="Firsthour"))
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
