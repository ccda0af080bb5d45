"""Every environment variable the project reads is documented in docs/configuration.md, and every variable
documented there (or shown in .env.example) is read by something: the settings and the rest of the Python
code, the containers' start scripts, the Makefile and scripts/, and the compose files.

docs/configuration.md is the one complete list. .env.example holds what a deployment sets (the secrets
first), and may name only variables that are read and documented there.
"""

import re

import yaml

from tests.stack.stack import REPO

CONFIGURATION = REPO / "docs" / "configuration.md"
ENV_EXAMPLE = REPO / ".env.example"
COMPOSE_FILES = [REPO / name for name in ("docker-compose.yml", "docker-stack.yml", "docker-compose.dev.yml")]
COMPOSE_FILES.append(REPO / "docker-compose.tls.yml")
SHELL_SCRIPTS = sorted(
    [path for path in (REPO / "server" / "docker").iterdir() if path.is_file()]
    + list((REPO / "scripts").rglob("*.sh"))
    + list((REPO / "nginx" / "entrypoint.d").glob("*.sh"))
    + list((REPO / "nginx" / "tls").glob("*.sh"))
    + list((REPO / "postgres" / "initdb.d").glob("*.sh"))
)
NAME = r"[A-Z][A-Z0-9_]*"
# The shell's and the system's own, and what a process sets for itself (manage.py, wsgi.py).
# PGDATA: the postgres image's own, read by the init script it runs.
PLATFORM = {"PATH", "HOME", "HOSTNAME", "BASH_SOURCE", "PIPESTATUS", "DJANGO_SETTINGS_MODULE", "PGDATA"}


def python_reads() -> set[str]:
    names = set()
    for path in [*(REPO / "server").rglob("*.py"), *(REPO / "scripts").rglob("*.py")]:
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        names |= set(re.findall(rf'env_\w+\(\s*"({NAME})"', text))
        # A secret may come from NAME_FILE instead (server_config/env.py, env_secret).
        names |= {f"{name}_FILE" for name in re.findall(rf'env_secret\(\s*"({NAME})"', text)}
        names |= set(re.findall(rf'(?:os\.environ\.get|os\.getenv)\(\s*"({NAME})"', text))
        names |= set(re.findall(rf'os\.environ\[\s*"({NAME})"\s*\]', text))
        # scripts/swarm/compose_for_swarm.py names the variables it reads once: NAME_VARIABLE = "NAME".
        names |= set(re.findall(rf'^\w+_VARIABLE = "({NAME})"', text, re.M))
    return names


def shell_reads(text: str) -> set[str]:
    """Variables a script reads that it does not set itself (a value with a default counts as read)."""
    used = set(re.findall(rf"\$\{{?({NAME})", text))
    assigned = set(re.findall(rf"^\s*(?:export\s+|local\s+|readonly\s+)?({NAME})=", text, re.M))
    defaulted = set(re.findall(rf"\$\{{({NAME}):?[-?=]", text))
    # start-flower's `secret NAME` reads NAME or the file NAME_FILE names; check-https.sh's
    # `setting NAME default` and `boolean NAME value` read NAME from the shell or .env.
    secrets = set(re.findall(rf"\bsecret ({NAME})\b", text))
    used |= set(re.findall(rf"\b(?:setting|boolean) ({NAME})\b", text))
    return (used - assigned) | defaulted | secrets | {f"{name}_FILE" for name in secrets}


def stack_reads() -> set[str]:
    names = set()
    for path in SHELL_SCRIPTS:
        names |= shell_reads(path.read_text())
    makefile = (REPO / "Makefile").read_text()
    # A recipe's shell reads $${NAME}; `NAME ?= default` is a make variable the environment may set.
    names |= shell_reads(makefile.replace("$$", "$"))
    names |= set(re.findall(rf"^({NAME}) \?=", makefile, re.M))
    # `docker compose exec -e NAME` passes the shell's NAME on to the container.
    names |= set(re.findall(rf"-e ({NAME})\b(?!=)", makefile))
    for path in COMPOSE_FILES:
        text = path.read_text()
        names |= set(re.findall(rf"(?<!\$)\$\{{({NAME})", text))  # filled by Compose from .env
        names |= set(re.findall(rf"\$\$\{{?({NAME})", text))  # read by a container's shell
    return names


def stack_set() -> set[str]:
    """What the compose file sets for its containers itself, not from a variable of the same name."""
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    names = set()
    for service in services.values():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        names |= {key for key, value in environment.items() if not re.match(rf"\$\{{{key}\b", str(value))}
    return names


def read_anywhere() -> set[str]:
    return python_reads() | stack_reads()


def documented() -> set[str]:
    """The variables named in the first column of docs/configuration.md's tables."""
    names = set()
    for line in CONFIGURATION.read_text().splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(rf"`({NAME})`", line.split(" | ")[0]))
    return names


def example_names() -> set[str]:
    return set(re.findall(rf"^#? ?({NAME})=", ENV_EXAMPLE.read_text(), re.M))


def test_every_variable_read_is_documented_in_configuration_md():
    # A variable the stack sets for its own containers (with a fixed or derived value) is not the user's.
    undocumented = read_anywhere() - documented() - PLATFORM - (stack_set() - documented())
    assert sorted(undocumented) == []


def test_every_variable_documented_in_configuration_md_is_read():
    assert sorted(documented() - read_anywhere()) == []


def test_env_example_names_only_documented_variables_that_are_read():
    assert sorted(example_names() - documented()) == []
    assert sorted(example_names() - read_anywhere()) == []


def test_env_example_holds_every_secret_make_requires_at_its_placeholder():
    # The ones a user must decide first: `make check-env` refuses to start while they read change-me.
    placeholders = set(re.findall(rf"^({NAME})=change-me$", ENV_EXAMPLE.read_text(), re.M))
    required = re.search(r"^SECRET_FILES := ((?:.*\\\n)*.*)$", (REPO / "Makefile").read_text(), re.M)[1]
    assert placeholders == set(re.findall(rf":({NAME})\b", required))


def test_this_check_sees_each_kind_of_reader():
    # One variable per reader, so that a parser that stopped finding anything fails here, not silently.
    assert {"DJANGO_DEBUG", "POSTGRES_PASSWORD_FILE", "PROMETHEUS_MULTIPROC_DIR"} <= python_reads()
    assert {"GUNICORN_LOG_LEVEL", "UPGRADE_WAIT_TIMEOUT", "CELERY_MEMORY_LIMIT", "FLOWER_PASSWORD_FILE"} <= (
        stack_reads()
    )
    assert {"PYTHON", "NGINX_BIND", "FBRAIN_SECRETS_DIR"} <= stack_reads()
