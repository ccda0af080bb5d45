"""Driving a Compose project of the real stack from tests: its commands, its HTTP entry point."""

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# One application image tag per checkout, so two checkouts on one engine never build over each other.
TEST_APP_IMAGE = f"fbrain-test-{hashlib.sha256(str(REPO).encode()).hexdigest()[:8]}/app:latest"
MACHINE_ENV = REPO / "tests" / "stack" / "machine.env"
README = REPO / "README.md"
# A log line that is not JSON names its level: Celery's and PostgreSQL's in capitals, nginx's and
# RabbitMQ's in brackets. Warnings and notices do not count.
ERROR_WORDS = re.compile(r"\b(ERROR|CRITICAL|FATAL|PANIC)\b|\[(error|crit|critical|alert|emerg)\]")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def env_lines(path: Path) -> dict[str, str]:
    """NAME=value lines of an env file, comments left out."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def readme_docker_commands() -> list[str]:
    """The commands of the README's "With Docker" block, comments left out, in order."""
    text = README.read_text()
    block = text.split("## With Docker", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


# The account the tests act as: made the documented way (createsuperuser --noinput), then given a
# token by `manage.py api_token`, as `make token` does.
STAFF_USER = "stack-staff"


@dataclass
class Stack:
    project: str
    directory: Path  # a fresh copy of the checkout, where the README's commands run
    port: int
    flower_password: str
    timings: dict[str, float] = field(default_factory=dict)  # seconds per README command run
    staff_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    staff_token: str | None = None

    @classmethod
    def create(cls, workdir: Path, **overrides: str) -> "Stack":
        """A fresh copy of this checkout with the .env a user writes: .env.example copied, the secrets it
        marks REQUIRED set, then this machine's overrides (machine.env) and the tier's own, if any."""
        directory = workdir / "checkout"
        files = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, capture_output=True, check=True,
        ).stdout.split(b"\0")  # fmt: skip
        for name in filter(None, (f.decode() for f in files)):
            if (REPO / name).is_file():  # a file deleted but not yet staged is listed too
                (directory / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, directory / name)
        stack = cls(f"fbrain-test-{os.getpid()}-{workdir.name}", directory, free_port(), "")
        return stack.configure(overrides)

    def configure(self, overrides: dict[str, str]) -> "Stack":
        """cp .env.example .env; set the REQUIRED secrets; append the machine's and the tier's overrides."""
        shutil.copyfile(self.directory / ".env.example", self.directory / ".env")
        text = (self.directory / ".env").read_text()
        example = env_lines(self.directory / ".env")
        placeholders = [name for name, value in example.items() if value == "change-me"]
        secrets_set = {name: secrets.token_urlsafe(24) for name in placeholders}
        for name, value in secrets_set.items():
            text = text.replace(f"\n{name}=change-me\n", f"\n{name}={value}\n")
        self.flower_password = secrets_set["FLOWER_PASSWORD"]
        computed = {"COMPOSE_PROJECT_NAME": self.project, "NGINX_PORT": str(self.port)}
        computed["APP_IMAGE"] = TEST_APP_IMAGE
        text += "\n# --- this machine (tests/stack/machine.env) ---\n" + MACHINE_ENV.read_text()
        text += "".join(f"{name}={value}\n" for name, value in computed.items())
        if overrides:
            text += "# --- this test tier's own ---\n" + "".join(f"{k}={v}\n" for k, v in overrides.items())
        (self.directory / ".env").write_text(text)
        return self

    def run(
        self, command: str, *, timeout: float = 900, check: bool = True, input: str = "", shell_vars=None
    ) -> subprocess.CompletedProcess:
        """One shell command as a user types it in the checkout, with a home of its own (no ~/.docker)
        and the shell variables set by the user's earlier commands, if any."""
        home = self.directory.parent / "home"
        home.mkdir(exist_ok=True)
        environment = self.environment()
        environment.update(shell_vars or {}, HOME=str(home))
        result = subprocess.run(
            ["bash", "-c", command], cwd=self.directory, env=environment,
            capture_output=True, text=True, timeout=timeout, input=input,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"{command} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def environment(self) -> dict[str, str]:
        """This process's variables but those the stack's .env sets: Compose lets the shell's win
        over .env, so a POSTGRES_DB exported for the fast tier would name another database here."""
        env_file = self.directory / ".env"
        written = env_lines(env_file).keys() if env_file.exists() else ()
        return {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("COMPOSE_", "DOCKER_")) and name not in written
        }

    def timed(self, command: str) -> subprocess.CompletedProcess:
        started = time.monotonic()
        result = self.run(command)
        self.timings[command] = round(time.monotonic() - started, 1)
        return result

    # --- docker compose ---------------------------------------------------------------------
    def compose_args(self, *args: str) -> list[str]:
        # The project directory holds the .env that names the project and its files, as for a user.
        return ["docker", "compose", "--project-directory", str(self.directory), *args]

    def compose(
        self, *args: str, timeout: float = 600, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            self.compose_args(*args), cwd=self.directory, env=self.environment(), capture_output=True,
            text=True, timeout=timeout, input=input,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def exec(
        self, service: str, *command: str, env: dict[str, str] | None = None, input: str | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess:  # fmt: skip
        """A command in one of the service's containers, as `docker compose exec -T`."""
        options = [arg for name, value in (env or {}).items() for arg in ("-e", f"{name}={value}")]
        return self.compose("exec", "-T", *options, service, *command, input=input, timeout=timeout)

    def sql(self, query: str) -> str:
        # On stdin: a query may list thousands of ids, more than one argument may hold.
        return self.exec(
            "db", "psql", "-U", "fbrain", "-d", "fbrain", "-tAq", "-v", "ON_ERROR_STOP=1", input=query
        ).stdout.strip()

    def django(self, code: str, *, service: str = "web", timeout: float = 600) -> str:
        """Run Python in a container's Django (manage.py shell); its last line of output."""
        out = self.exec(service, "python", "manage.py", "shell", "-c", code, timeout=timeout)
        lines = out.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    def stub(self, path: str, payload: dict | None = None) -> dict:
        """The Open-Meteo stand-in's control API (/_stub/config, /_stub/reset, /_stub/stats)."""
        method = "GET" if payload is None else "POST"
        out = self.exec(
            "openmeteo", "python", "-c", _STUB_CLIENT, path, method,
            input=json.dumps(payload) if payload is not None else "",
        ).stdout  # fmt: skip
        return json.loads(out) if out.strip() else {}

    def release_stale_endpoints(self) -> list[str]:
        """Docker Engine 20.10 now and then keeps the endpoint of a container it has removed on a
        network, whose removal then fails with "has active endpoints" (seen once in CI, on the egress
        network, while another tier loaded the machine). Docker's own way out: disconnect it by
        force. Returns the endpoints released."""
        released = []
        networks = subprocess.run(
            ["docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={self.project}"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        for network in networks:
            names = subprocess.run(
                ["docker", "network", "inspect", network, "-f", "{{range .Containers}}{{.Name}} {{end}}"],
                capture_output=True, text=True,
            ).stdout.split()  # fmt: skip
            for name in names:
                subprocess.run(["docker", "network", "disconnect", "-f", network, name], capture_output=True)
                released.append(f"{network}:{name}")
        return released

    def down_volumes(self) -> subprocess.CompletedProcess:
        """`docker compose down -v` as the user types it; once more after releasing stale endpoints
        if the engine kept one (release_stale_endpoints)."""
        result = self.run("docker compose down -v", check=False)
        if result.returncode != 0 and "has active endpoints" in result.stderr:
            self.release_stale_endpoints()
            result = self.run("docker compose down -v", check=False)
        if result.returncode != 0:
            raise AssertionError(f"docker compose down -v failed:\n{result.stdout}\n{result.stderr}")
        return result

    def container_ids(self, service: str) -> list[str]:
        return sorted(self.compose("ps", "-q", service).stdout.split())

    def containers(self, *services: str) -> list[dict]:
        out = self.compose("ps", "-a", "--format", "json", *services).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def error_lines(self, service: str) -> list[str]:
        """The lines of a service's log at ERROR or worse: the app's JSON lines by their level;
        Celery's terminal notices and PostgreSQL by the upper-case level they name (ERROR:, FATAL:);
        nginx and RabbitMQ by their bracketed one ([error], [crit], [critical], [alert], [emerg])."""
        out = self.compose("logs", "--no-color", "--no-log-prefix", service, timeout=120).stdout
        found = []
        for line in filter(str.strip, out.splitlines()):
            try:
                level = str(json.loads(line).get("level", "")).upper()
            except (ValueError, AttributeError):
                level = "ERROR" if ERROR_WORDS.search(line) else ""
            if level in ("ERROR", "CRITICAL"):
                found.append(line)
        return found

    def act_as_staff(self) -> str:
        """Create the staff account once and issue its API token; http() sends it from then on."""
        if self.staff_token is None:
            account = {
                "DJANGO_SUPERUSER_USERNAME": STAFF_USER,
                "DJANGO_SUPERUSER_PASSWORD": self.staff_password,
                "DJANGO_SUPERUSER_EMAIL": "staff@example.org",
            }
            self.exec("web", "python", "manage.py", "createsuperuser", "--noinput", env=account)
            out = self.exec("web", "python", "manage.py", "api_token", STAFF_USER)
            self.staff_token = out.stdout.strip()
        return self.staff_token

    # --- HTTP through nginx -----------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def http(
        self,
        method: str,
        path: str,
        body=None,
        *,
        auth: tuple[str, str] | None = None,
        anonymous: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """A request through nginx: with basic `auth` if given, else as staff once act_as_staff()
        ran, unless `anonymous`."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if data is not None and not request.has_header("Content-type"):
            request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
        elif self.staff_token and not anonymous:
            request.add_header("Authorization", f"Token {self.staff_token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Response(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read(), dict(error.headers))

    @property
    def flower_auth(self) -> tuple[str, str]:
        return ("admin", self.flower_password)


@contextmanager
def running_stack(
    workdir: Path, prepare: Callable[[Stack], None] | None = None, **overrides: str
) -> Iterator[Stack]:
    """A stack started the README's way in a fresh copy of this checkout: its commands up to `make up`,
    with the secrets and overrides written into .env after `cp .env.example .env`. Torn down afterwards,
    whatever happened, leaving no container, volume or network (its logs are kept in build/<project>.log).
    The README's remaining commands are run by the Compose tier's first test. `prepare`, if given,
    runs in the configured copy before them (a tier's own documented steps, such as certificates)."""
    stack = Stack.create(workdir, **overrides)
    commands = readme_docker_commands()
    try:
        if prepare is not None:
            prepare(stack)
        for command in commands[: commands.index("make up") + 1]:
            if command != "cp .env.example .env":  # Stack.create did it, then set the secrets
                stack.timed(command)
        yield stack
    finally:
        logs = stack.compose("logs", "--no-color", "--timestamps", check=False, timeout=120).stdout
        (REPO / "build").mkdir(exist_ok=True)
        (REPO / "build" / f"{stack.project}.log").write_text(logs)
        down = ("down", "-v", "--remove-orphans", "--timeout", "30")
        if stack.compose(*down, check=False, timeout=300).returncode != 0 and stack.release_stale_endpoints():
            stack.compose(*down, check=False, timeout=300)
    leftovers = {
        kind: subprocess.run(
            ["docker", kind, "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"]
            + (["-a"] if kind == "container" else []),
            capture_output=True, text=True, check=True,
        ).stdout.split()
        for kind in ("container", "volume", "network")
    }  # fmt: skip
    assert not any(leftovers.values()), f"the stack left {leftovers} behind"
