"""The image versions have one source, docker-compose.yml's defaults; everything else that names them
(the Dockerfile's build argument, docs/operations.md's table, the stand-ins that the tiers run) is held
to it here. The stand-ins run the same major versions as the defaults, so no tier tests an older world."""

import re

import yaml

from tests.stack.stack import MACHINE_ENV, REPO, env_lines

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
IMAGE_VARIABLES = ("PYTHON_IMAGE", "POSTGRES_IMAGE", "RABBITMQ_IMAGE", "NGINX_IMAGE", "PROMETHEUS_IMAGE")


def compose_defaults() -> dict[str, str]:
    text = (REPO / "docker-compose.yml").read_text()
    found = dict(re.findall(r"\$\{([A-Z_]+_IMAGE):-([^}]+)\}", text))
    return {name: found[name] for name in IMAGE_VARIABLES}


def operations_table() -> dict[str, tuple[str, str]]:
    """docs/operations.md's versions table: variable -> (default, stand-in)."""
    rows = re.findall(
        r"^\| `([A-Z_]+_IMAGE)` \| `([^`]+)` \| `([^`]+)` \|", (REPO / "docs/operations.md").read_text(), re.M
    )
    return {name: (default, standin) for name, default, standin in rows}


def major(image: str) -> str:
    """The major version in an image's tag: 17 of postgres:17-trixie, 4 of rabbitmq:4.3-management,
    1 of nginx:1.30-trixie, 3 of python:3.13-slim-trixie (and Python's minor, which is its series)."""
    tag = image.rsplit(":", 1)[1].lstrip("v")
    numbers = re.match(r"(\d+)(?:\.(\d+))?", tag).groups()
    return f"{numbers[0]}.{numbers[1]}" if image.rsplit(":", 1)[0].endswith("python") else numbers[0]


def test_every_image_default_is_set_once_in_docker_compose_yml():
    text = (REPO / "docker-compose.yml").read_text()
    for name, default in compose_defaults().items():
        assert len(set(re.findall(rf"\$\{{{name}:-([^}}]+)\}}", text))) == 1, name
        assert default
    # .env.example names the variables without values, so the defaults stay in one place.
    example = env_lines(REPO / ".env.example")
    assert not set(IMAGE_VARIABLES) & set(example)


def test_the_defaults_are_the_newest_supported_series():
    assert compose_defaults() == {
        "PYTHON_IMAGE": "python:3.13-slim-trixie",
        "POSTGRES_IMAGE": "postgres:17-trixie",
        "RABBITMQ_IMAGE": "rabbitmq:4.3-management",
        "NGINX_IMAGE": "nginx:1.30-trixie",
        "PROMETHEUS_IMAGE": "prom/prometheus:v3.5.0",
    }


def test_the_dockerfiles_build_argument_default_is_compose_s():
    dockerfile = (REPO / "server/Dockerfile").read_text()
    assert (
        re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.M).group(1)
        == compose_defaults()["PYTHON_IMAGE"]
    )


def test_operations_md_quotes_the_defaults_and_the_stand_ins_the_tiers_run():
    machine = env_lines(MACHINE_ENV)
    table = operations_table()
    assert {name: default for name, (default, _) in table.items()} == compose_defaults()
    assert {name: standin for name, (_, standin) in table.items()} == {n: machine[n] for n in IMAGE_VARIABLES}
    block = re.search(
        r"In `\.env`, for the stand-ins.*?```sh\n(.*?)```", (REPO / "docs/operations.md").read_text(), re.S
    )
    assert block.group(1).splitlines() == [f"{name}={machine[name]}" for name in IMAGE_VARIABLES]


def test_the_stand_ins_run_the_defaults_major_versions_and_build_sh_builds_each():
    machine = env_lines(MACHINE_ENV)
    build = (REPO / "tests/stack/images/build.sh").read_text()
    current = build[build.index("current)") : build.index("previous)")]
    for name in IMAGE_VARIABLES:
        assert f"build {machine[name]} " in current, name
        if name != "PROMETHEUS_IMAGE":  # Debian has no Prometheus 3 (docs/operations.md says so)
            assert major(machine[name]) == major(compose_defaults()[name]), name


def test_the_rabbitmq_stand_in_refuses_what_the_newest_series_refuses():
    conf = (REPO / "tests/stack/images/rabbitmq/defaults-4.3/00-deprecated-features.conf").read_text()
    refused = set(re.findall(r"^deprecated_features\.permit\.(\w+) = false$", conf, re.M))
    assert refused == {"transient_nonexcl_queues", "global_qos", "queue_master_locator"}
