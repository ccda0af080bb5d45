"""Invariants of docker-compose.yml, read as data: what must stay true whoever edits it."""

import json
import re
import subprocess

import pytest
import yaml

from tests.stack.stack import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "celery", "celery-imports", "beat", "flower"]
ONE_SHOT = {"migrate"}


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML keeps the last of two equal keys without a word: a second `deploy:` drops the first."""

    def construct_mapping(self, node, deep=False):
        keys = [key.value for key, _ in node.value if key.value != "<<"]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        assert not repeated, f"{repeated} given twice at {node.start_mark}"
        return super().construct_mapping(node, deep)


def test_no_key_is_given_twice_in_one_mapping():
    yaml.load((REPO / "docker-compose.yml").read_text(), _UniqueKeyLoader)  # noqa: S506 - a SafeLoader


def test_app_services_share_one_image_built_once():
    images = {SERVICES[name]["image"] for name in APP_SERVICES}
    assert images == {"${APP_IMAGE:-fbrain/app:latest}"}
    assert [name for name in SERVICES if "build" in SERVICES[name]] == ["migrate"]
    assert SERVICES["migrate"]["build"]["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.13-slim-trixie}"


@pytest.mark.parametrize("name", sorted(set(SERVICES) - ONE_SHOT))
def test_every_long_running_service_has_a_healthcheck(name):
    assert SERVICES[name]["healthcheck"]["test"]


def test_only_nginx_publishes_ports_and_prometheus_on_loopback_only():
    assert [name for name, service in SERVICES.items() if "ports" in service] == ["prometheus", "nginx"]
    assert SERVICES["nginx"]["ports"] == ["${NGINX_BIND:-127.0.0.1}:${NGINX_PORT:-8080}:80"]
    # Prometheus's UI and API have no login: never on an address other hosts reach.
    assert SERVICES["prometheus"]["ports"] == ["127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"]


def test_prometheus_is_an_optional_profile_and_runs_as_nobody():
    prometheus = SERVICES["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert prometheus["image"] == "${PROMETHEUS_IMAGE:-prom/prometheus:v3.5.0}"
    assert prometheus["user"] == "65534:65534"
    assert "./monitoring:/etc/prometheus:ro" in prometheus["volumes"]
    # The targets are on the backend network; nothing else of the stack needs Prometheus.
    assert "backend" in prometheus["networks"]
    assert not any("prometheus" in (service.get("depends_on") or {}) for service in SERVICES.values())


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_dependency_has_a_condition(name):
    for dependency, spec in (SERVICES[name].get("depends_on") or {}).items():
        assert spec.get("condition") in {"service_healthy", "service_completed_successfully"}, dependency


def test_app_services_wait_for_the_one_migrate_job():
    for name in ["web", "celery", "beat", "flower"]:
        assert SERVICES[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert SERVICES["migrate"]["restart"] == "no"


def test_beat_and_db_cannot_be_scaled():
    # A fixed container name makes `docker compose up --scale beat=2` fail.
    assert SERVICES["beat"]["container_name"] == "${COMPOSE_PROJECT_NAME:-fbrain}-beat"
    assert SERVICES["db"]["container_name"] == "${COMPOSE_PROJECT_NAME:-fbrain}-db"


def test_workers_scale_and_shut_down_gracefully():
    celery = SERVICES["celery"]
    assert "container_name" not in celery and "ports" not in celery
    minutes = int(celery["stop_grace_period"].rstrip("m"))
    assert minutes * 60 > 660  # the longest task time limit (ETL steps)


def test_a_stuck_worker_is_detected_cheaply_and_replaced_by_its_own_container():
    celery = SERVICES["celery"]
    # The check reads a file's age: no Python start, no broker round trip (`inspect ping` timed out on
    # loaded hosts and marked healthy workers unhealthy).
    check = celery["healthcheck"]["test"][1]
    assert "WORKER_LIVENESS_FILE" in check and "celery" not in check.replace("celery-worker-alive", "")
    # Compose never restarts an unhealthy container: start-worker's watchdog kills a stale worker and
    # exits, and the restart policy starts a new container.
    assert celery["restart"] == "unless-stopped"
    start_worker = (REPO / "server" / "docker" / "start-worker").read_text()
    assert "WORKER_LIVENESS_MAX_AGE" in start_worker and 'kill -KILL "$worker"' in start_worker


def test_imports_have_a_worker_of_their_own():
    # A slow import must not hold a refresh back: each worker service serves its own queues.
    # WORKER_QUEUES, not CELERY_WORKER_QUEUES, which Celery's command line would take as --queues.
    assert SERVICES["celery"]["environment"]["WORKER_QUEUES"] == "${CELERY_TASK_DEFAULT_QUEUE:-celery}"
    imports = SERVICES["celery-imports"]
    assert imports["environment"]["WORKER_QUEUES"] == "${ETL_QUEUE:-imports}"
    assert imports["command"] == ["start-worker"] and "imports:/app/var/imports" in imports["volumes"]
    assert not any(name.startswith("CELERY_WORKER_QUEUES") for service in SERVICES.values()
                   for name in service.get("environment", {}))  # fmt: skip


def test_rabbitmq_keeps_its_data_and_has_its_own_user():
    rabbitmq = SERVICES["rabbitmq"]
    assert rabbitmq["hostname"] == "rabbitmq"
    assert "rabbitmq-data:/var/lib/rabbitmq" in rabbitmq["volumes"]
    assert rabbitmq["environment"]["RABBITMQ_DEFAULT_USER"].startswith("${RABBITMQ_USER:?")
    timeout = re.search(r"^consumer_timeout = (\d+)", (REPO / "rabbitmq/rabbitmq.conf").read_text(), re.M)
    # Delayed retries wait in the broker (native delayed delivery), not in a worker: the longest task.
    assert int(timeout.group(1)) > 660_000


# The secrets the stack reads from files: each required one is at its placeholder in .env.example;
# the weather API key is optional (empty: the free tier).
REQUIRED_SECRETS = ["DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "FLOWER_PASSWORD"]
SECRETS = [*REQUIRED_SECRETS, "WEATHER_API_KEY"]


def test_every_variable_the_file_reads_is_documented_in_env_example():
    # $${NAME} is the container shell's variable, escaped from Compose: not read by Compose.
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", (REPO / "docker-compose.yml").read_text()))
    documented = set(re.findall(r"^#? ?([A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M))
    assert referenced - documented == set()


def test_no_secret_passes_through_compose_variables():
    # Secrets reach containers as files (`secrets:`), never interpolated into an environment.
    text = (REPO / "docker-compose.yml").read_text()
    for secret in SECRETS:
        assert f"${{{secret}" not in text
    assert all(set(spec) == {"file"} for spec in COMPOSE["secrets"].values())
    env_example = (REPO / ".env.example").read_text()
    for secret in REQUIRED_SECRETS:
        assert re.search(rf"^{secret}=change-me$", env_example, re.M)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_is_hardened(name):
    service = SERVICES[name]
    assert service["cap_drop"] == ["ALL"]
    assert not {"ALL", "SYS_ADMIN", "NET_ADMIN", "NET_RAW", "SYS_PTRACE"} & set(service.get("cap_add", []))
    assert service["security_opt"] == ["no-new-privileges:true"]
    assert service["read_only"] is True
    limits = service["deploy"]["resources"]["limits"]
    assert limits["memory"].startswith("${") and limits["pids"] == "${CONTAINER_PIDS_LIMIT:-512}"
    assert service["logging"]["driver"] == "json-file"
    assert set(service["logging"]["options"]) == {"max-size", "max-file"}


def test_only_the_entrypoints_that_start_as_root_get_capabilities_back():
    with_capabilities = {name for name, service in SERVICES.items() if service.get("cap_add")}
    assert with_capabilities == {"db", "rabbitmq", "nginx"}


def test_the_data_services_are_on_an_internal_network_and_only_callers_of_the_internet_on_egress():
    networks = COMPOSE["networks"]
    assert networks["backend"] == {"internal": True} and networks["proxy"] == {"internal": True}
    assert SERVICES["db"]["networks"] == SERVICES["rabbitmq"]["networks"] == ["backend"]
    on_egress = {name for name, service in SERVICES.items() if "egress" in service["networks"]}
    assert on_egress == {"web", "celery", "celery-imports"}  # the geocoding and forecast APIs, URL imports
    assert "backend" not in SERVICES["nginx"]["networks"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_read_secrets_from_files_and_show_none_in_their_environment(name):
    environment = SERVICES[name]["environment"]
    for secret in SECRETS:
        assert environment[secret] == ""  # blanks what the env file may hold
    for secret in SERVICES[name]["secrets"]:
        assert f"/run/secrets/{secret}" in environment.values()
    assert environment["CELERY_BROKER_URL"].startswith("amqp://${RABBITMQ_USER:?set RABBITMQ_USER in .env}@")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_log_json_lines_named_after_their_service(name):
    # JSON in the stack unless .env says otherwise; each line names the service (docs/operations.md).
    environment = SERVICES[name]["environment"]
    assert environment["LOG_FORMAT"] == "${LOG_FORMAT:-json}"
    assert environment["LOG_SERVICE"] == name


def test_forwarded_headers_are_decided_by_nginx_and_believed_from_it_only():
    assert not re.search(r"--forwarded-allow-ips\s+['\"]?\*", (REPO / "server/docker/start-web").read_text())
    nginx = (REPO / "nginx/conf.d/default.conf").read_text()
    assert "X-Forwarded-Proto $forwarded_proto" in nginx
    assert "X-Forwarded-Proto $http_x_forwarded_proto" not in nginx


def test_the_request_id_is_decided_by_nginx_and_sent_to_django_and_flower():
    # A client's own X-Request-Id never reaches the logs as is: only nginx's map reads it.
    nginx = (REPO / "nginx/conf.d/default.conf").read_text()
    assert nginx.count("proxy_set_header X-Request-Id $fbrain_request_id;") == 2
    assert nginx.count("$http_x_request_id") == 1
    assert "access_log /var/log/nginx/access.log fbrain_json;" in nginx


def test_the_development_bind_mount_is_not_in_the_production_file():
    for service in SERVICES.values():
        assert not any(str(volume).startswith("./server") for volume in service.get("volumes", []))


def test_the_worker_count_is_configuration():
    assert SERVICES["celery"]["deploy"]["replicas"] == "${CELERY_REPLICAS:-1}"


# The Compose-level variables of .env.example at the edge values their comments allow.
COMPOSE_EDGES = [
    ("CELERY_REPLICAS", "0"), ("CELERY_REPLICAS", "1"), ("CELERY_REPLICAS", "32"),
    ("WORKER_CONCURRENCY", ""), ("WORKER_CONCURRENCY", "16"),
    ("GUNICORN_WORKERS", "1"), ("NGINX_BIND", "0.0.0.0"), ("NGINX_PORT", "1"), ("NGINX_PORT", "65535"),
    ("SEED_CITIES", "false"), ("BUILD_CA_BUNDLE", ""), ("COMPOSE_PROJECT_NAME", "another-stack"),
    ("LOG_MAX_SIZE", "1m"), ("LOG_MAX_FILE", "1"), ("CONTAINER_PIDS_LIMIT", "64"),
    ("CELERY_MEMORY_LIMIT", "256m"), ("POSTGRES_MEMORY_LIMIT", "4g"),
    ("NGINX_TRUSTED_PROXIES", "10.0.0.0/8,192.0.2.1"),
    ("ETL_WORKER_REPLICAS", "0"), ("ETL_WORKER_CONCURRENCY", "1"),
    ("COMPOSE_PROFILES", "monitoring"), ("PROMETHEUS_PORT", "1"), ("PROMETHEUS_PORT", "65535"),
    ("PROMETHEUS_RETENTION", "12h"), ("PROMETHEUS_MEMORY_LIMIT", "2g"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), COMPOSE_EDGES, ids=str)
def test_compose_accepts_an_edge_value_of_env_example(tmp_path, name, value):
    # .env.example as shipped, its REQUIRED secrets set, one value at its edge: the file still resolves.
    text = (REPO / ".env.example").read_text().replace("=change-me\n", "=set\n")
    (tmp_path / ".env").write_text(f"{text}{name}={value}\n")
    result = subprocess.run(
        ["docker", "compose", "--project-directory", str(tmp_path), "-f", str(REPO / "docker-compose.yml"),
         "config", "--format", "json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    if name == "CELERY_REPLICAS":
        assert services["celery"]["deploy"]["replicas"] == int(value)
    assert ("prometheus" in services) == (name == "COMPOSE_PROFILES")
