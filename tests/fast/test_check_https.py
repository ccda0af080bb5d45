"""`make check-https` (run by `make up` and `make swarm-up`): plain HTTP on an address other hosts
reach is refused unless ALLOW_PUBLIC_PLAIN_HTTP=true says so (docs/security.md). Run in a temporary
folder holding the Makefile, the script and a .env made from .env.example."""

import shutil
import subprocess

import pytest

from tests.stack.stack import REPO


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / "scripts/docker").mkdir(parents=True)
    shutil.copy(REPO / "Makefile", tmp_path)
    shutil.copy(REPO / "scripts/docker/check-https.sh", tmp_path / "scripts/docker")
    example = (REPO / ".env.example").read_text()
    (tmp_path / ".env").write_text(example.replace("=change-me\n", "=a-real-value\n"))
    return tmp_path


def make(checkout, *args: str, env_lines: str = "") -> subprocess.CompletedProcess:
    with (checkout / ".env").open("a") as env:
        env.write(env_lines)
    # A bare environment: the user's shell would override .env, as it does for Compose.
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=checkout, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(checkout)},
    )  # fmt: skip


def test_it_accepts_env_example_as_shipped(checkout):
    # A trial: plain HTTP on 127.0.0.1.
    result = make(checkout, "check-https")
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.0.2.10", "::"])
def test_it_refuses_plain_http_on_a_public_address(checkout, bind):
    result = make(checkout, "check-https", env_lines=f"NGINX_BIND={bind}\n")
    assert result.returncode != 0
    refusal = "Refusing to start. DJANGO_HTTPS=false while the site is reachable from other hosts"
    assert f"{refusal} (NGINX_BIND={bind})" in result.stderr


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.1.1", "::1", "localhost", ""])
def test_it_accepts_plain_http_on_loopback(checkout, bind):
    assert make(checkout, "check-https", env_lines=f"NGINX_BIND={bind}\n").returncode == 0


def test_it_accepts_a_public_address_with_https_on(checkout):
    result = make(checkout, "check-https", env_lines="NGINX_BIND=0.0.0.0\nDJANGO_HTTPS=true\n")
    assert result.returncode == 0 and result.stderr == ""


def test_https_defaults_to_on_as_in_settings(checkout):
    env = (checkout / ".env").read_text().replace("\nDJANGO_HTTPS=false\n", "\n")
    (checkout / ".env").write_text(env)
    assert make(checkout, "check-https", env_lines="NGINX_BIND=0.0.0.0\n").returncode == 0
    # Debugging turns HTTPS off by default, as settings.py does: refused on that public address.
    assert make(checkout, "check-https", env_lines="DJANGO_DEBUG=true\n").returncode != 0


def test_an_explicit_allow_starts_with_a_warning(checkout):
    result = make(checkout, "check-https", env_lines="NGINX_BIND=0.0.0.0\nALLOW_PUBLIC_PLAIN_HTTP=true\n")
    assert result.returncode == 0
    assert "WARNING: DJANGO_HTTPS=false while the site is reachable from other hosts" in result.stderr


@pytest.mark.parametrize(("name", "value"), [("ALLOW_PUBLIC_PLAIN_HTTP", "yes"), ("DJANGO_HTTPS", "1")])
def test_a_malformed_boolean_is_refused_by_name(checkout, name, value):
    result = make(checkout, "check-https", env_lines=f"NGINX_BIND=0.0.0.0\n{name}={value}\n")
    assert result.returncode == 2 and f"{name}='{value}' must be true or false." in result.stderr


def test_the_tls_overrides_public_port_counts_too(checkout):
    lines = "COMPOSE_FILE=docker-compose.yml:docker-compose.tls.yml\nTLS_BIND=0.0.0.0\n"
    result = make(checkout, "check-https", env_lines=lines)
    assert result.returncode != 0 and "(TLS_BIND=0.0.0.0)" in result.stderr


def test_make_up_refuses_before_it_writes_secrets_or_builds(checkout):
    result = make(checkout, "up", env_lines="NGINX_BIND=0.0.0.0\n")
    assert result.returncode != 0 and "Refusing to start." in result.stderr
    assert not (checkout / "secrets").exists()


def test_swarm_up_checks_as_public_whatever_nginx_bind_says(checkout):
    # nginx listens on every address of Swarm's edge nodes: .env.example's 127.0.0.1 does not apply.
    recipe = make(checkout, "-n", "-o", "venv", "swarm-up").stdout
    assert recipe.index("scripts/docker/check-https.sh swarm") < recipe.index("scripts/swarm/deploy.sh")
    result = subprocess.run(
        ["scripts/docker/check-https.sh", "swarm"], cwd=checkout, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin"}, timeout=60,
    )  # fmt: skip
    assert (
        result.returncode != 0
        and "(Swarm (nginx listens on every address of the edge nodes))" in result.stderr
    )
