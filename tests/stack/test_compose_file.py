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


def test_app_services_share_one_image_built_once():
    images = {SERVICES[name]["image"] for name in APP_SERVICES}
    assert images == {"${APP_IMAGE:-fbrain/app:latest}"}
    assert [name for name in SERVICES if "build" in SERVICES[name]] == ["migrate"]
    assert (
        SERVICES["migrate"]["build"]["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim-bookworm}"
    )


@pytest.mark.parametrize("name", sorted(set(SERVICES) - ONE_SHOT))
def test_every_long_running_service_has_a_healthcheck(name):
    assert SERVICES[name]["healthcheck"]["test"]


def test_only_nginx_publishes_ports():
    assert [name for name, service in SERVICES.items() if "ports" in service] == ["nginx"]
    assert SERVICES["nginx"]["ports"] == ["${NGINX_BIND:-127.0.0.1}:${NGINX_PORT:-8080}:80"]


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
    assert "inspect ping" in celery["healthcheck"]["test"][1]


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


def test_every_variable_the_file_reads_is_documented_in_env_example():
    # $${NAME} is the container shell's variable, escaped from Compose: not read by Compose.
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", (REPO / "docker-compose.yml").read_text()))
    documented = set(re.findall(r"^#? ?([A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M))
    assert referenced - documented == set()


def test_no_secret_has_a_working_default():
    text = (REPO / "docker-compose.yml").read_text()
    for secret in ["POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"]:
        assert re.findall(rf"\$\{{{secret}(:?[-?])", text) and f"${{{secret}:-" not in text
    env_example = (REPO / ".env.example").read_text()
    for secret in ["DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "FLOWER_PASSWORD"]:
        assert re.search(rf"^{secret}=change-me$", env_example, re.M)


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
