"""The hardening of every container, read from Docker itself (docker inspect) on the live stack."""

import json
import subprocess

import pytest

LONG_RUNNING = ["db", "rabbitmq", "web", "celery", "beat", "flower", "nginx"]
# What each entrypoint needs back after `cap_drop: [ALL]` (docker-compose.yml says why).
CAPABILITIES = {
    "db": {"CAP_CHOWN", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID"},
    "rabbitmq": {"CAP_CHOWN", "CAP_DAC_READ_SEARCH", "CAP_SETUID", "CAP_SETGID"},
    "nginx": {"CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"},
}
SECRETS_OF = {
    "db": {"postgres_password"},
    "rabbitmq": {"rabbitmq_password"},
    "migrate": {"django_secret_key", "postgres_password"},
    "web": {"django_secret_key", "postgres_password", "rabbitmq_password", "weather_api_key"},
    "celery": {"django_secret_key", "postgres_password", "rabbitmq_password", "weather_api_key"},
    "beat": {"django_secret_key", "postgres_password", "rabbitmq_password"},
    "flower": {"django_secret_key", "rabbitmq_password", "flower_password"},
    "nginx": set(),
}


def inspect(stack, service: str) -> dict:
    container = stack.compose("ps", "-a", "-q", service).stdout.split()[0]
    out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def can_connect(stack, service: str, host: str, port: int) -> bool:
    """A TCP connection from inside a container, with bash's /dev/tcp (every image here has bash)."""
    probe = f"exec 3<>/dev/tcp/{host}/{port}"
    result = stack.compose("exec", "-T", service, "timeout", "5", "bash", "-c", probe, check=False)
    return result.returncode == 0


@pytest.mark.parametrize("service", LONG_RUNNING + ["migrate"])
def test_every_container_drops_all_capabilities_and_adds_back_only_its_entrypoints(stack, service):
    host = inspect(stack, service)["HostConfig"]
    assert host["CapDrop"] == ["ALL"] or host["CapDrop"] == ["CAP_ALL"]
    assert set(host["CapAdd"] or []) == CAPABILITIES.get(service, set())
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["ReadonlyRootfs"] is True


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_every_container_has_memory_pids_and_log_limits(stack, service):
    host = inspect(stack, service)["HostConfig"]
    assert 0 < host["Memory"] <= 2 * 1024**3
    assert 0 < host["PidsLimit"] <= 4096
    assert host["LogConfig"]["Type"] == "json-file"
    assert host["LogConfig"]["Config"]["max-size"] and int(host["LogConfig"]["Config"]["max-file"]) >= 1


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_a_read_only_root_really_refuses_writes(stack, service):
    result = stack.compose("exec", "-T", service, "touch", "/written-by-a-test", check=False)
    assert result.returncode != 0 and "Read-only file system" in result.stderr


def test_no_secret_is_in_any_containers_environment(stack, stack_secrets):
    for service in LONG_RUNNING + ["migrate", "openmeteo"]:
        env = "\n".join(inspect(stack, service)["Config"]["Env"])
        leaked = [name for name, value in stack_secrets.items() if value in env]
        assert not leaked, f"{service} shows {leaked} in docker inspect"


@pytest.mark.parametrize("service", sorted(SECRETS_OF))
def test_each_service_is_given_only_its_own_secrets(stack, service):
    targets = [mount["Destination"] for mount in inspect(stack, service)["Mounts"]]
    given = {target.removeprefix("/run/secrets/") for target in targets if target.startswith("/run/secrets/")}
    assert given == SECRETS_OF[service]


def test_the_database_and_broker_sit_on_internal_networks_only(stack):
    def networks(service):
        return set(inspect(stack, service)["NetworkSettings"]["Networks"])

    backend = f"{stack.project}_backend"
    assert networks("db") == networks("rabbitmq") == {backend}
    info = subprocess.run(["docker", "network", "inspect", backend], capture_output=True, text=True)
    assert json.loads(info.stdout)[0]["Internal"] is True
    egress = f"{stack.project}_egress"
    assert {s for s in LONG_RUNNING if egress in networks(s)} == {"web", "celery"}


def test_nginx_cannot_reach_the_database(stack):
    db_ip = next(iter(inspect(stack, "db")["NetworkSettings"]["Networks"].values()))["IPAddress"]
    assert stack.compose("exec", "-T", "nginx", "getent", "hosts", "db", check=False).returncode != 0
    assert not can_connect(stack, "nginx", db_ip, 5432)
    assert can_connect(stack, "nginx", "web", 8000)  # the probe itself works


def test_the_backend_cannot_route_out_while_the_workers_can(stack):
    # The Open-Meteo stand-in plays "the internet": it sits on the egress network only.
    networks = inspect(stack, "openmeteo")["NetworkSettings"]["Networks"]
    outside = networks[f"{stack.project}_egress"]["IPAddress"]
    assert can_connect(stack, "celery", outside, 8080)
    assert not can_connect(stack, "db", outside, 8080)
    assert not can_connect(stack, "rabbitmq", outside, 8080)
    # Docker's DNS answers an internal network's containers for the stack's names only.
    assert stack.compose("exec", "-T", "db", "getent", "hosts", "openmeteo", check=False).returncode != 0


def test_the_app_database_role_owns_its_schema_without_being_superuser(stack):
    role = stack.sql("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user")
    assert role == "f|f|f"
    owners = stack.sql(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database() "
        "UNION ALL SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"
    )
    assert owners.split() == ["fbrain", "fbrain"]
    # The superuser's password is refused over the network, even from the app's own containers.
    login = stack.compose(
        "exec", "-T", "web", "python", "-c",
        "import psycopg, sys; psycopg.connect(host='db', user='postgres', dbname='fbrain', "
        "password=open('/run/secrets/postgres_password').read().strip(), connect_timeout=5)",
        check=False,
    )  # fmt: skip
    assert login.returncode != 0 and "rejects connection" in login.stderr


def test_the_broker_user_is_no_administrator_and_sees_its_vhost_only(stack):
    users = stack.compose("exec", "-T", "rabbitmq", "rabbitmqctl", "-q", "list_users").stdout
    assert "fbrain\t[management]" in users
    rights = stack.compose("exec", "-T", "rabbitmq", "rabbitmqctl", "-q", "list_user_permissions", "fbrain")
    vhosts = [line.split("\t")[0] for line in rights.stdout.splitlines()[1:] if line.strip()]
    assert vhosts == ["fbrain"]
