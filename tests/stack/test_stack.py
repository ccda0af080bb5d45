"""The real stack under Docker Engine, started and driven as its users do: the README's commands in a
fresh copy of the checkout with .env.example as shipped, then nginx's published port, `docker compose
logs`, `--scale`, `make` and `stop`. Tests run in file order and share one stack."""

import json
import re
import shutil
import subprocess
import time

from tests.openmeteo_stub import OpenMeteoStub
from tests.polling import wait_for
from tests.stack.stack import MACHINE_ENV, REPO, STAFF_USER, TEST_APP_IMAGE, env_lines, readme_docker_commands

LONG_RUNNING = {"db", "rabbitmq", "web", "celery", "celery-imports", "beat", "flower", "nginx", "openmeteo"}


def test_the_compose_configuration_is_valid(stack):
    stack.compose("config", "-q")


def test_the_stack_runs_on_env_example_with_only_the_secrets_and_this_machines_overrides(stack):
    example = env_lines(REPO / ".env.example")
    written = env_lines(stack.directory / ".env")
    changed = {name for name in example if written[name] != example[name]}
    required = {name for name, value in example.items() if value == "change-me"}
    assert required == {"DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "FLOWER_PASSWORD"}
    assert all("REQUIRED" in comment_above(name) for name in required)
    machine = set(env_lines(MACHINE_ENV)) | {"COMPOSE_PROJECT_NAME", "NGINX_PORT", "APP_IMAGE"}
    assert changed <= required | machine
    assert set(written) - set(example) <= machine


def comment_above(name: str) -> str:
    """The comment block above a variable of .env.example (above the assignments grouped with it)."""
    lines = (REPO / ".env.example").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"{name}="))
    while at > 0 and re.match(r"[A-Z_]+=", lines[at - 1]):
        at -= 1
    start = at
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    return "\n".join(lines[start:at])


def test_the_readme_commands_after_make_up_show_the_logs_and_scale_the_workers(stack):
    commands = readme_docker_commands()
    assert commands == ["make engine", "cp .env.example .env", "make up", "docker compose logs celery",
                        "docker compose up -d --scale celery=4"]  # fmt: skip
    logs = stack.timed("docker compose logs celery").stdout
    assert "celery@" in logs and "ready." in logs
    stack.timed("docker compose up -d --scale celery=4")
    wait_for(
        lambda: [c["Health"] for c in stack.containers("celery")] == ["healthy"] * 4,
        timeout=180, interval=2, what="four healthy workers",
    )  # fmt: skip
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / "readme-timings.json").write_text(json.dumps(stack.timings, indent=2) + "\n")


def test_celery_replicas_in_env_is_the_worker_count_every_make_up_starts(stack):
    scaled = stack.run("make scale N=2")
    assert "set CELERY_REPLICAS=2 in .env to keep it" in scaled.stdout
    env = stack.directory / ".env"
    env.write_text(env.read_text() + "CELERY_REPLICAS=3\n")
    stack.run("make up")
    workers = [c for c in stack.containers("celery") if c["State"] == "running"]
    assert len(workers) == 3 and all(c["Health"] == "healthy" for c in workers)


def test_the_workers_reach_a_weather_api_on_the_host_through_host_docker_internal(stack):
    # A paid endpoint, a mirror or a test server on the host: WEATHER_API_URL names host.docker.internal.
    gateway = subprocess.run(
        ["docker", "network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    host_api = OpenMeteoStub(host=gateway, port=0)
    host_api.start()
    try:
        url = f"http://host.docker.internal:{host_api.httpd.server_address[1]}/v1/forecast"
        out = stack.compose(
            "run", "--rm", "--no-deps", "-e", f"WEATHER_API_URL={url}", "celery", "python", "manage.py",
            "shell", "-c", "from weather.openmeteo import get_client; "
            "print(get_client().fetch_current([(48.85, 2.35)])[0].temperature is not None)",
            timeout=180,
        ).stdout  # fmt: skip
        assert out.strip().splitlines()[-1] == "True"
        assert host_api.stats()["forecast_requests"] == 1
    finally:
        host_api.stop()


def test_a_build_behind_the_proxy_without_its_ca_names_the_fix_and_leaves_no_container(stack, tmp_path):
    # This machine reaches PyPI through a TLS-inspecting proxy: without BUILD_CA_BUNDLE pip must fail.
    checkout = tmp_path / "no-ca"
    shutil.copytree(stack.directory, checkout, ignore=shutil.ignore_patterns("build-ca-bundle.crt"))
    env = checkout / ".env"
    env.write_text(env.read_text() + "BUILD_CA_BUNDLE=\nAPP_IMAGE=fbrain-test-no-ca/app:latest\n")
    result = subprocess.run(["make", "build"], cwd=checkout, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in output
    assert "BUILD_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt" in output
    build_containers = re.findall(r"Running in ([0-9a-f]{12})", output)
    assert build_containers
    left = subprocess.run(["docker", "ps", "-aq", "--no-trunc"], capture_output=True, text=True).stdout
    assert not [c for c in build_containers if c in left]


def test_every_service_is_healthy_and_migrate_succeeded(stack):
    states = {c["Service"]: c for c in stack.containers()}
    for name in LONG_RUNNING:
        assert states[name]["Health"] == "healthy", (name, states[name]["Status"])
    assert states["migrate"]["State"] == "exited" and states["migrate"]["ExitCode"] == 0


def test_readyz_answers_200_through_nginx(stack):
    response = stack.http("GET", "/readyz")
    assert response.status == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_a_refresh_enqueued_over_http_is_stored_in_postgres_by_a_worker(stack):
    city = stack.http(
        "POST", "/api/cities/", {"name": "Stacktown", "country": "FR", "latitude": 43.6, "longitude": 1.44}
    ).json()
    queued = stack.http("POST", f"/api/cities/{city['id']}/refresh/")
    assert queued.status == 202
    task_id = queued.json()["task_id"]
    task = wait_for(
        lambda: (
            (t := stack.http("GET", f"/api/tasks/{task_id}/").json())["state"] in ("SUCCESS", "FAILURE") and t
        ),
        timeout=60,
        what="the refresh task",
    )
    assert task["state"] == "SUCCESS", task
    assert task["worker"].startswith("celery@")
    assert stack.sql(f"SELECT count(*) FROM weather_weatherdata WHERE city_id = {city['id']}") == "1"


def test_nginx_serves_static_files_and_the_admin_login(stack):
    login = stack.http("GET", "/admin/login/")
    assert login.status == 200 and b"csrfmiddlewaretoken" in login.body
    css = stack.http("GET", "/static/admin/css/base.css")
    assert css.status == 200 and css.headers.get("Content-Type", "").startswith("text/css")
    assert stack.http("GET", "/static/weather/vendor/chart-4.6.1.umd.min.js").status == 200


def test_nginx_sets_security_headers_once_and_refuses_big_bodies(stack):
    response = stack.http("GET", "/healthz")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    big = stack.http("POST", "/api/cities/", {"name": "x" * 2_000_000})
    assert big.status == 413


def test_flower_asks_for_credentials_and_its_metrics_are_refused(stack):
    assert stack.http("GET", "/flower/").status == 401
    assert stack.http("GET", "/flower/api/workers").status == 401
    assert stack.http("GET", "/flower/", auth=stack.flower_auth).status == 200
    assert stack.http("GET", "/flower/metrics", auth=stack.flower_auth).status == 403
    assert stack.http("GET", "/flower/metrics").status == 403


def test_flowers_task_api_refuses_requests_without_credentials(stack):
    path = "/flower/api/task/async-apply/weather.tasks.cleanup_old_weather_data"
    assert stack.http("POST", path, {}).status == 401
    assert stack.http("POST", path, {}, auth=("admin", "wrong-password")).status == 401
    assert stack.sql("SELECT count(*) FROM django_celery_results_taskresult "
                     "WHERE task_name = 'weather.tasks.cleanup_old_weather_data'") == "0"  # fmt: skip


def test_no_secret_shows_in_a_process_list(stack):
    for service in ("flower", "celery", "web"):
        cmdline = stack.compose("exec", "-T", service, "cat", "/proc/1/cmdline").stdout
        assert stack.flower_password not in cmdline and "RABBITMQ_PASSWORD" not in cmdline, service


def test_the_admin_has_no_account_until_one_is_created(stack):
    # The only account is the one the tests made (act_as_staff, in conftest): none comes built in.
    assert stack.sql("SELECT string_agg(username, ',') FROM auth_user") == STAFF_USER


def test_rabbitmq_has_no_guest_user_and_workers_accept_json_only(stack):
    users = stack.compose("exec", "-T", "rabbitmq", "rabbitmqctl", "-q", "list_users").stdout
    assert "guest" not in users and "fbrain" in users
    conf = stack.compose(
        "exec", "-T", "web", "celery", "-A", "server_config", "inspect", "conf", "true", "--json",
        "--timeout", "10",
    ).stdout  # fmt: skip
    workers = json.loads(conf)  # each worker's effective settings, defaults included
    assert workers and all(c["accept_content"] == ["json"] for c in workers.values()), conf


def test_the_runtime_image_runs_as_non_root_without_build_certificates(stack):
    image = TEST_APP_IMAGE
    out = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            image,
            "-c",
            "id -u; find / -xdev \\( -name 'build-ca*' -o -name host.crt -o -name requirements.txt \\) "
            "2>/dev/null || true",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert out == ["10001"]


def test_an_import_runs_on_the_imports_worker_only(stack, tmp_path):
    csv_file = tmp_path / "stack-import.csv"
    csv_file.write_text("name,country,latitude,longitude\nImportville,FR,45.1,5.2\n")
    stack.compose("cp", str(csv_file), "web:/app/var/imports/stack-import.csv")
    run_id = stack.django(
        "from weather.workflows import etl_run_enqueue; print(etl_run_enqueue(source='stack-import.csv').id)"
    )
    wait_for(
        lambda: stack.sql(f"SELECT state FROM weather_pipelinerun WHERE id = {int(run_id)}") == "success",
        timeout=120, what="the import",
    )  # fmt: skip
    steps = stack.sql(
        "SELECT string_agg(DISTINCT worker, ',') FROM django_celery_results_taskresult "
        "WHERE task_name ~ '^weather\\.tasks\\.(extract|transform|load)_data$'"
    )  # fmt: skip
    imports_worker = f"celery@{stack.container_ids('celery-imports')[0][:12]}"
    assert steps == imports_worker


def test_three_workers_share_a_full_refresh(stack):
    workers = [c for c in stack.containers("celery") if c["State"] == "running"]
    assert len(workers) == 3 and all(c["Health"] == "healthy" for c in workers)
    # A little latency per API request keeps every worker busy long enough for all three to take batches.
    stack.stub("/_stub/config", {"latency_ms": 400})
    queued = stack.http("POST", "/api/pipeline/refresh-all/").json()
    run = wait_for(
        lambda: (
            (r := stack.http("GET", f"/api/runs/{queued['run_id']}/").json())["state"]
            in ("success", "partial", "failure")
            and r
        ),
        timeout=180,
        what="the full refresh",
    )
    assert run["state"] == "success", run
    assert run["cities_ok"] == run["cities_total"] >= 150
    hosts = stack.sql(
        "SELECT count(DISTINCT worker) FROM django_celery_results_taskresult "
        "WHERE task_name = 'weather.tasks.fetch_weather_batch'"
    )
    assert hosts == "3"


def test_worker_logs_show_the_task_lines(stack):
    logs = stack.compose("logs", "--no-color", "celery").stdout
    assert re.search(r"Fetched weather for a batch of (\d+) cities: \1 stored, 0 failed", logs)
    assert "Task weather.tasks.fetch_weather_for_city[" in logs and "succeeded in" in logs


def json_log_lines(stack, service: str) -> tuple[list[dict], list[str]]:
    """A service's output as `docker compose logs` shows it: its JSON objects, and its other lines."""
    out = stack.compose("logs", "--no-color", "--no-log-prefix", service).stdout
    objects, others = [], []
    for line in filter(str.strip, out.splitlines()):
        try:
            objects.append(json.loads(line))
        except ValueError:
            others.append(line)
    return objects, others


def test_the_logs_are_json_lines_and_one_id_finds_a_refresh_at_nginx_web_and_worker(stack):
    city = stack.http(
        "POST", "/api/cities/", {"name": "Greptown", "country": "FR", "latitude": 45.76, "longitude": 4.84}
    ).json()
    queued = stack.http("POST", f"/api/cities/{city['id']}/refresh/")
    task_id, request_id = queued.json()["task_id"], queued.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # nginx's $request_id
    wait_for(
        lambda: stack.http("GET", f"/api/tasks/{task_id}/").json()["state"] == "SUCCESS",
        timeout=60, what="the refresh task",
    )  # fmt: skip

    # Every line of the workers is a JSON object with the common fields, but for Celery's own
    # notices to a terminal ("worker: Warm shutdown (MainProcess)", of a replaced container).
    worker = wait_for(
        lambda: (
            (found := json_log_lines(stack, "celery"))
            and any(e.get("task_id") == task_id and "succeeded in" in e["message"] for e in found[0])
            and found
        ),
        timeout=30, what="the worker's line saying the task succeeded",
    )  # fmt: skip
    objects, others = worker
    assert [line for line in others if not line.startswith("worker: ")] == []
    assert all({"time", "level", "service", "logger", "message"} <= set(entry) for entry in objects)
    about_task = [entry for entry in objects if entry.get("task_id") == task_id]
    assert {entry["task_name"] for entry in about_task} == {"weather.tasks.fetch_weather_for_city"}
    assert {entry["service"] for entry in about_task} == {"celery"}
    fetched = [entry for entry in about_task if entry["message"].startswith("Fetched weather for Greptown")]
    assert fetched and fetched[0]["request_id"] == request_id

    # The web side: the request that queued it logged the task id, with the same request id.
    web, _ = json_log_lines(stack, "web")
    assert [entry["request_id"] for entry in web if entry.get("task_id") == task_id] == [request_id]
    access = [
        entry
        for entry in web
        if entry["logger"] == "gunicorn.access" and entry.get("request_id") == request_id
    ]
    assert access and access[0]["status"] == 202
    # And nginx's access log, in JSON too.
    nginx, _ = json_log_lines(stack, "nginx")
    assert [entry["status"] for entry in nginx if entry.get("request_id") == request_id] == [202]


def test_beat_runs_a_schedule_changed_in_the_database_without_restart(stack):
    started = stack.containers("beat")[0]["CreatedAt"]
    stack.django(
        "from django_celery_beat.models import IntervalSchedule, PeriodicTask; "
        "every, _ = IntervalSchedule.objects.get_or_create(every=3, period='seconds'); "
        "PeriodicTask.objects.update_or_create(name='stack-test-cleanup', defaults={"
        "'task': 'weather.tasks.cleanup_old_weather_data', 'interval': every})",
    )
    wait_for(
        lambda: (
            int(
                stack.sql(
                    "SELECT count(*) FROM django_celery_results_taskresult "
                    "WHERE periodic_task_name = 'stack-test-cleanup' AND status = 'SUCCESS'"
                )
            )
            >= 2
        ),
        timeout=90,
        what="beat to run the new schedule twice",
    )
    assert stack.containers("beat")[0]["CreatedAt"] == started
    assert stack.containers("beat")[0]["Health"] == "healthy"


def test_scaling_beat_is_refused_and_make_scale_says_why(stack):
    result = stack.compose("up", "-d", "--scale", "beat=2", "--no-recreate", "beat", check=False, timeout=120)
    assert result.returncode != 0
    assert "unique name" in result.stdout + result.stderr
    refused = stack.run("make scale SERVICE=beat N=2", check=False)
    assert refused.returncode != 0 and "a second would send every one twice" in refused.stdout
    assert len(stack.containers("beat")) == 1


def test_stop_ends_the_workers_with_a_warm_shutdown(stack):
    started = time.monotonic()
    stack.compose("stop", "celery", timeout=420)
    elapsed = time.monotonic() - started
    containers = stack.containers("celery")
    assert [c["State"] for c in containers] == ["exited"] * 3
    assert all(c["ExitCode"] == 0 for c in containers), containers
    assert elapsed < 720  # within stop_grace_period: nobody was killed
    assert stack.compose("logs", "--no-color", "celery").stdout.count("Warm shutdown") >= 3
    stack.run("make up")  # the first-hour tier goes on with this stack
