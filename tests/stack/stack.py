"""Driving a Compose project of the real stack from tests: its commands, its HTTP entry point."""

import base64
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# One application image tag per checkout, so two checkouts on one engine never build over each other.
TEST_APP_IMAGE = f"fbrain-test-{hashlib.sha256(str(REPO).encode()).hexdigest()[:8]}/app:latest"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
STANDIN = {
    "PYTHON_IMAGE": "fbrain-standin/python:3.11-slim-bookworm",
    "POSTGRES_IMAGE": "fbrain-standin/postgres:15-bookworm-r2",
    "RABBITMQ_IMAGE": "fbrain-standin/rabbitmq:3.10-management-r2",
    "NGINX_IMAGE": "fbrain-standin/nginx:1.22-bookworm-r2",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SECRETS = {
    "django_secret_key": "DJANGO_SECRET_KEY",
    "postgres_password": "POSTGRES_PASSWORD",
    "rabbitmq_password": "RABBITMQ_PASSWORD",
    "flower_password": "FLOWER_PASSWORD",
}


def write_secrets(directory: Path, env: dict) -> Path:
    """The Compose secret files (what `make secrets` writes), holding the env's values."""
    directory.mkdir(exist_ok=True)
    for name, variable in SECRETS.items():
        (directory / name).write_text(env[variable] + "\n")
        (directory / name).chmod(0o644)  # read by each container's own user, uid 10001 or postgres
    return directory


# Runs inside the stand-in's container: argv = path, method; stdin = the JSON body, if any.
_STUB_CLIENT = (
    "import sys, urllib.request as u; body = sys.stdin.buffer.read() or None; "
    "r = u.Request('http://127.0.0.1:8080' + sys.argv[1], data=body, method=sys.argv[2], "
    "headers={'Content-Type': 'application/json'}); "
    "sys.stdout.write(u.urlopen(r, timeout=10).read().decode())"
)


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict = field(default_factory=dict)

    def json(self):
        return json.loads(self.body)


@dataclass
class Stack:
    project: str
    env_file: Path
    port: int
    flower_password: str

    @classmethod
    def create(cls, workdir: Path, **overrides: str) -> "Stack":
        port = free_port()
        env = {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_DEBUG": "false",
            "DJANGO_HTTPS": "false",
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
            "DJANGO_CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}",
            "POSTGRES_DB": "fbrain",
            "POSTGRES_USER": "fbrain",
            "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
            "RABBITMQ_USER": "fbrain",
            "RABBITMQ_PASSWORD": secrets.token_urlsafe(16),
            "RABBITMQ_VHOST": "fbrain",
            "FLOWER_USER": "admin",
            "FLOWER_PASSWORD": secrets.token_urlsafe(16),
            "NGINX_BIND": "127.0.0.1",
            "NGINX_PORT": str(port),
            "SEED_CITIES": "true",
            "WEATHER_API_URL": "http://openmeteo:8080/v1/forecast",
            "GEOCODING_API_URL": "http://openmeteo:8080/v1/search",
            "WEATHER_BATCH_SIZE": "10",
            "WEATHER_RETRY_BACKOFF_SECONDS": "0.5",
            "CELERY_WORKER_CONCURRENCY": "2",
            "GUNICORN_WORKERS": "2",
            "APP_IMAGE": TEST_APP_IMAGE,
            **STANDIN,
            **overrides,
        }
        env_file = workdir / "stack.env"
        env["FBRAIN_ENV_FILE"] = str(env_file)
        env["FBRAIN_SECRETS_DIR"] = str(write_secrets(workdir / "secrets", env))
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        return cls(f"fbrain-test-{os.getpid()}-{workdir.name}", env_file, port, env["FLOWER_PASSWORD"])

    # --- docker compose ---------------------------------------------------------------------
    def compose_args(self, *args: str) -> list[str]:
        return [
            "docker", "compose", "-p", self.project, "--env-file", str(self.env_file),
            "-f", str(REPO / "docker-compose.yml"), "-f", str(REPO / "tests/stack/compose.test.yml"), *args,
        ]  # fmt: skip

    def compose(
        self, *args: str, timeout: float = 600, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            self.compose_args(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout, input=input
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def sql(self, query: str) -> str:
        # On stdin: a query may list thousands of ids, more than one argument may hold.
        return self.compose(
            "exec", "-T", "db", "psql", "-U", "fbrain", "-d", "fbrain", "-tAq", "-v", "ON_ERROR_STOP=1",
            input=query,
        ).stdout.strip()  # fmt: skip

    def django(self, code: str, *, service: str = "web", timeout: float = 600) -> str:
        """Run Python in a container's Django (manage.py shell); its last line of output."""
        out = self.compose("exec", "-T", service, "python", "manage.py", "shell", "-c", code, timeout=timeout)
        lines = out.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    def stub(self, path: str, payload: dict | None = None) -> dict:
        """The Open-Meteo stand-in's control API (/_stub/config, /_stub/reset, /_stub/stats)."""
        method = "GET" if payload is None else "POST"
        out = self.compose(
            "exec", "-T", "openmeteo", "python", "-c", _STUB_CLIENT, path, method,
            input=json.dumps(payload) if payload is not None else "",
        ).stdout  # fmt: skip
        return json.loads(out) if out.strip() else {}

    def container_ids(self, service: str) -> list[str]:
        return sorted(self.compose("ps", "-q", service).stdout.split())

    def containers(self, *services: str) -> list[dict]:
        out = self.compose("ps", "-a", "--format", "json", *services).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    # --- HTTP through nginx -----------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def http(self, method: str, path: str, body=None, *, auth: tuple[str, str] | None = None) -> Response:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Response(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read(), dict(error.headers))

    @property
    def flower_auth(self) -> tuple[str, str]:
        return ("admin", self.flower_password)


@contextmanager
def running_stack(workdir: Path, **overrides: str) -> Iterator[Stack]:
    """A stack built from this checkout and started healthy; torn down afterwards, whatever happened,
    leaving no container, volume or network (its logs are kept in build/<project>.log)."""
    # This machine reaches PyPI through a TLS-inspecting proxy: give its CA to the build stage.
    if HOST_CA.is_file():
        shutil.copyfile(HOST_CA, REPO / "server" / "docker" / "build-ca" / "host.crt")
    stack = Stack.create(workdir, **overrides)
    try:
        stack.compose("build", timeout=900)
        stack.compose("up", "-d", "--wait", "--wait-timeout", "300", timeout=400)
        yield stack
    finally:
        logs = stack.compose("logs", "--no-color", "--timestamps", check=False, timeout=120).stdout
        (REPO / "build").mkdir(exist_ok=True)
        (REPO / "build" / f"{stack.project}.log").write_text(logs)
        stack.compose("down", "-v", "--remove-orphans", "--timeout", "30", check=False, timeout=300)
    leftovers = {
        kind: subprocess.run(
            ["docker", kind, "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"]
            + (["-a"] if kind == "container" else []),
            capture_output=True, text=True, check=True,
        ).stdout.split()
        for kind in ("container", "volume", "network")
    }  # fmt: skip
    assert not any(leftovers.values()), f"the stack left {leftovers} behind"
