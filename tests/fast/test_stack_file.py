"""docker-stack.yml stays in step with docker-compose.yml: the one description of the stack plus
only what Docker Swarm needs on top, rendered by scripts/swarm/stack-config.sh (docs/scale-out.md)."""

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.stack.stack import REPO
from tests.stack.test_compose_file import _UniqueKeyLoader

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
STACK = yaml.safe_load((REPO / "docker-stack.yml").read_text())
# Services of an optional Compose profile (monitoring) are not deployed on Swarm yet (docs/scale-out.md).
SERVICES = {name: service for name, service in COMPOSE["services"].items() if "profiles" not in service}
SWARM = STACK["services"]
APP_SERVICES = ["migrate", "web", "celery", "celery-imports", "beat", "flower"]
WORKERS = ["celery", "celery-imports"]
STATEFUL = {"db": "fbrain.db", "rabbitmq": "fbrain.broker"}
SECRETS = ["DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "FLOWER_PASSWORD"]


def seconds(duration: str) -> int:
    """A Compose duration such as 12m, 180s or 1m30s."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, duration
    hours, minutes, secs = (int(part or 0) for part in parts.groups())
    return hours * 3600 + minutes * 60 + secs


def test_no_key_is_given_twice_in_one_mapping():
    yaml.load((REPO / "docker-stack.yml").read_text(), _UniqueKeyLoader)  # noqa: S506 - a SafeLoader


def test_the_stack_file_adds_to_compose_services_and_invents_none():
    assert set(SWARM) == set(SERVICES)


def test_the_stack_file_holds_only_what_swarm_needs():
    # Networks, secrets, volumes, commands, health checks and hardening come from docker-compose.yml
    # alone, so the two files cannot disagree about them.
    assert {key for key in STACK if not key.startswith("x-")} == {"services"}
    for name, service in SWARM.items():
        assert set(service) <= {"deploy", "image", "ports"}, name
        assert "resources" not in service["deploy"], name  # the limits are Compose's, kept by the merge


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_its_swarm_deploy_keys(name):
    deploy = SWARM[name]["deploy"]
    assert "restart_policy" in deploy
    if name == "migrate":
        return
    assert isinstance(deploy["replicas"], int) or deploy["replicas"].startswith("${")
    assert deploy["update_config"]["failure_action"] == "rollback"
    assert "rollback_config" in deploy


def test_app_images_come_from_the_same_variable_and_must_name_a_registry_image():
    for name in APP_SERVICES:
        compose_variable = re.match(r"\$\{(\w+)", SERVICES[name]["image"])[1]
        assert SWARM[name]["image"].startswith(f"${{{compose_variable}:?"), name
    # Swarm ignores `build`: an image no registry holds cannot start on another node.
    assert all("image" not in SWARM[name] for name in set(SWARM) - set(APP_SERVICES))


@pytest.mark.parametrize(("name", "label"), sorted(STATEFUL.items()))
def test_the_database_and_the_broker_are_pinned_to_the_node_of_their_volume(name, label):
    deploy = SWARM[name]["deploy"]
    assert deploy["replicas"] == 1
    assert deploy["placement"]["constraints"] == [f"node.labels.{label} == true"]
    # Two servers on one data folder, even for a moment, would corrupt it.
    assert deploy["update_config"]["order"] == "stop-first"
    assert deploy["rollback_config"]["order"] == "stop-first"


def test_beat_runs_once_and_is_never_doubled_by_an_update():
    deploy = SWARM["beat"]["deploy"]
    assert deploy["replicas"] == 1 and deploy.get("mode", "replicated") == "replicated"
    assert deploy["update_config"]["order"] == "stop-first"


@pytest.mark.parametrize("name", WORKERS)
def test_a_worker_update_stops_first_waits_out_the_warm_shutdown_and_rolls_back(name):
    deploy = SWARM[name]["deploy"]
    update = deploy["update_config"]
    assert update["order"] == "stop-first" and update["parallelism"] == 1
    assert update["failure_action"] == "rollback" and deploy["rollback_config"]["order"] == "stop-first"
    assert seconds(update["delay"]) > 0
    # A new worker that never turns healthy fails the update: watched longer than its start period.
    assert seconds(update["monitor"]) > seconds(SERVICES[name]["healthcheck"]["start_period"])
    # Swarm stops the old task with the service's stop_grace_period (kept from docker-compose.yml):
    # longer than the longest task limit (ETL steps: 660 s), so its running tasks finish.
    assert seconds(SERVICES[name]["stop_grace_period"]) > 660
    assert deploy["replicas"] == SERVICES[name]["deploy"]["replicas"]
    assert deploy["placement"]["constraints"] == ["node.labels.fbrain.worker == true"]


def test_the_migration_is_a_job_run_where_nginx_serves_its_static_files():
    deploy = SWARM["migrate"]["deploy"]
    assert deploy["mode"] == "replicated-job"
    assert deploy["restart_policy"]["condition"] == "on-failure"
    # `static` is a node-local volume: migrate fills it on the node nginx reads it from.
    assert "static:/app/staticfiles" in SERVICES["migrate"]["volumes"]
    assert deploy["placement"]["constraints"] == SWARM["nginx"]["deploy"]["placement"]["constraints"]


def test_services_are_reached_by_their_tasks_addresses_and_nginx_on_its_node():
    # No virtual IPs: they need IPVS, which some kernels (this machine's) lack.
    for name in set(SWARM) - {"migrate", "nginx"}:
        assert SWARM[name]["deploy"]["endpoint_mode"] == "dnsrr", name
    (port,) = SWARM["nginx"]["ports"]
    assert port == {"target": 80, "published": "${NGINX_PORT:-8080}", "protocol": "tcp", "mode": "host"}
    assert SWARM["nginx"]["deploy"]["placement"]["max_replicas_per_node"] == 1


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """build/swarm/stack.yml as scripts/swarm/stack-config.sh writes it, in a copy of the checkout
    whose .env holds real-looking secrets, from a shell that exported them too."""
    # make test-fast installs the engine first (make engine), so this never skips under make test.
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI on PATH (make engine): `docker stack config` renders the merged file")
    copy = tmp_path_factory.mktemp("checkout")
    for path in ["docker-compose.yml", "docker-stack.yml", "scripts/swarm", "postgres", "rabbitmq", "nginx"]:
        source = REPO / path
        if source.is_dir():
            shutil.copytree(source, copy / path)
        else:
            shutil.copy(source, copy / path)
    secrets = {name: f"secret-{name.lower()}-value" for name in SECRETS}
    text = (REPO / ".env.example").read_text()
    for name, value in secrets.items():
        text = text.replace(f"{name}=change-me\n", f"{name}={value}\n")
    (copy / ".env").write_text(
        text + "APP_IMAGE=registry.example:5000/fbrain/app:1\nCONTAINER_PIDS_LIMIT=256\n"
    )
    result = subprocess.run(
        ["bash", str(copy / "scripts/swarm/stack-config.sh"), "build/swarm/stack.yml"],
        cwd=copy, env={**os.environ, **secrets, "PYTHON": sys.executable}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = (copy / "build/swarm/stack.yml").read_text()
    return {"text": text, "stack": yaml.safe_load(text), "secrets": secrets, "folder": copy}


def test_docker_stack_config_renders_the_merged_file(rendered):
    stack = rendered["stack"]
    assert set(stack["services"]) == set(SERVICES)
    assert set(stack["secrets"]) == set(COMPOSE["secrets"])
    assert set(stack["networks"]) == set(COMPOSE["networks"]) and set(stack["volumes"]) == set(
        COMPOSE["volumes"]
    )
    for name, service in stack["services"].items():
        # What Swarm refuses or ignores is gone; the hardening and the limits are kept.
        assert not {"depends_on", "build", "container_name", "restart", "security_opt"} & set(service), name
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert service["deploy"]["resources"]["limits"]["pids"] == 256, name
        assert service["networks"].keys() == set(SERVICES[name]["networks"]), name
        assert {secret["source"] for secret in service.get("secrets", [])} == set(
            SERVICES[name].get("secrets", [])
        )
    for name in APP_SERVICES:
        assert stack["services"][name]["image"] == "registry.example:5000/fbrain/app:1"
        assert stack["services"][name]["env_file"] == [str(rendered["folder"] / ".env")]
    assert stack["services"]["celery"]["stop_grace_period"] == "12m0s"
    assert stack["services"]["migrate"]["deploy"]["mode"] == "replicated-job"


def test_the_rendered_file_deploys_as_written_with_its_literal_dollars(rendered):
    # `docker stack deploy` interpolates the rendered file once more: `$` left unescaped by `docker
    # stack config` would fail it ("invalid interpolation format") or be filled from the shell.
    again = subprocess.run(
        ["docker", "stack", "config", "-c", "build/swarm/stack.yml"],
        cwd=rendered["folder"], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    services = yaml.safe_load(again.stdout)["services"]
    assert '"$(cat /run/secrets/rabbitmq_password)"' in " ".join(services["rabbitmq"]["entrypoint"])
    assert '"${WORKER_LIVENESS_FILE:-/tmp/celery-worker-alive}"' in " ".join(
        services["celery"]["healthcheck"]["test"]
    )


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_tmpfs_becomes_mounts_that_swarm_applies(rendered, name):
    # `docker stack deploy` ignores `tmpfs:`; a read-only container then cannot start.
    service = rendered["stack"]["services"][name]
    assert "tmpfs" not in service
    mounts = {v["target"]: v["tmpfs"]["size"] for v in service.get("volumes", []) if v["type"] == "tmpfs"}
    wanted = dict(entry.split(":size=") for entry in SERVICES[name].get("tmpfs", []))
    assert mounts.keys() == wanted.keys()
    assert all(
        mounts[target] == int(size[:-1]) * 1024**2 for target, size in wanted.items() if size.endswith("m")
    )


def test_only_nginx_publishes_a_port_and_in_swarms_host_mode(rendered):
    published = {name: s["ports"] for name, s in rendered["stack"]["services"].items() if "ports" in s}
    assert list(published) == ["nginx"]
    assert [port["mode"] for port in published["nginx"]] == ["host"]


def test_no_secret_reaches_a_service_spec_from_the_deploying_shell(rendered):
    # `docker stack` fills an empty `environment:` value from the shell: the script unsets them.
    for value in rendered["secrets"].values():
        assert value not in rendered["text"]
    for name in APP_SERVICES:
        environment = rendered["stack"]["services"][name]["environment"]
        assert all(environment[secret] == "" for secret in SECRETS), name


def test_an_app_image_must_be_named_for_swarm(rendered):
    # Without APP_IMAGE, Compose builds fbrain/app:latest locally; Swarm's other nodes could not pull it.
    folder = rendered["folder"]
    env = (folder / ".env").read_text().replace("APP_IMAGE=registry.example:5000/fbrain/app:1\n", "")
    (folder / ".env").write_text(re.sub(r"^APP_IMAGE=.*\n", "", env, flags=re.M))
    result = subprocess.run(
        ["bash", "scripts/swarm/stack-config.sh", "build/swarm/other.yml"],
        cwd=folder, env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "set APP_IMAGE to the app image's name in a registry every node reaches" in result.stderr
    assert not list((folder / "build/swarm").glob("other.yml*"))


def test_every_variable_the_stack_file_reads_is_documented_in_env_example():
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", (REPO / "docker-stack.yml").read_text()))
    documented = set(re.findall(r"^#? ?([A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M))
    assert referenced and referenced - documented == set()


def render_with(rendered, extra: str, out: str) -> subprocess.CompletedProcess:
    """stack-config.sh once more, with lines added to the copy's .env for this render only (and an
    APP_IMAGE, which test_an_app_image_must_be_named_for_swarm takes out)."""
    env_file = rendered["folder"] / ".env"
    original = env_file.read_text()
    env_file.write_text(f"{original}APP_IMAGE=registry.example:5000/fbrain/app:1\n{extra}")
    try:
        return subprocess.run(
            ["bash", "scripts/swarm/stack-config.sh", f"build/swarm/{out}"],
            cwd=rendered["folder"], env={**os.environ, "PYTHON": sys.executable},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        env_file.write_text(original)


def test_every_overlay_network_is_encrypted_by_default(rendered):
    # The broker password, session cookies and Flower's Basic auth cross the LAN on these networks.
    networks = rendered["stack"]["networks"]
    assert set(networks) == set(COMPOSE["networks"])
    assert all(network["driver_opts"] == {"encrypted": "true"} for network in networks.values()), networks
    # What docker-compose.yml says of each is kept.
    assert networks["backend"]["internal"] is True and networks["proxy"]["internal"] is True


def test_overlay_encryption_is_turned_off_only_by_an_explicit_false(rendered):
    result = render_with(rendered, "SWARM_OVERLAY_ENCRYPTION=false\n", "plain.yml")
    assert result.returncode == 0, result.stderr
    networks = yaml.safe_load((rendered["folder"] / "build/swarm/plain.yml").read_text())["networks"]
    assert not any("encrypted" in (network or {}).get("driver_opts", {}) for network in networks.values())


def test_a_malformed_overlay_encryption_value_is_refused(rendered):
    result = render_with(rendered, "SWARM_OVERLAY_ENCRYPTION=no\n", "bad.yml")
    assert result.returncode != 0
    assert "SWARM_OVERLAY_ENCRYPTION='no' must be true or false." in result.stderr


def test_the_tls_override_is_refused_on_swarm(rendered):
    # Its terminator shares nginx's network namespace (network_mode: service:nginx), which Swarm lacks.
    result = render_with(rendered, "COMPOSE_FILE=docker-compose.yml:docker-compose.tls.yml\n", "tls.yml")
    assert result.returncode != 0
    assert "docker-compose.tls.yml, which Swarm cannot run" in result.stderr
    assert not list((rendered["folder"] / "build/swarm").glob("tls.yml*"))
