"""docker-compose.tls.yml as Compose resolves it on .env.example plus its documented lines, and the
terminator's port script: what the TLS tier (tests/tls) relies on, at the values it does not run."""

import json
import subprocess

import pytest

from tests.stack.stack import REPO

START_SCRIPT = REPO / "nginx/tls/40-fbrain-tls.sh"


def resolved(tmp_path, extra: str = "") -> dict:
    text = (REPO / ".env.example").read_text().replace("=change-me\n", "=set\n")
    (tmp_path / ".env").write_text(text + extra)
    result = subprocess.run(
        ["docker", "compose", "--project-directory", str(tmp_path), "-f", str(REPO / "docker-compose.yml"),
         "-f", str(REPO / "docker-compose.tls.yml"), "config", "--format", "json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def test_the_terminator_is_hardened_as_nginx_is_and_shares_its_network(tmp_path):
    services = resolved(tmp_path)
    tls, nginx = services["tls"], services["nginx"]
    assert tls["image"] == nginx["image"]
    assert tls["network_mode"] == "service:nginx"
    for key in ("cap_drop", "cap_add", "security_opt", "read_only"):
        assert tls[key] == nginx[key], key
    assert tls["deploy"]["resources"]["limits"]["memory"] and tls["logging"]["driver"] == "json-file"
    # Only the terminator, on nginx's loopback, is believed; nothing else is added to the trusted list.
    assert nginx["environment"]["NGINX_TRUSTED_PROXIES"] == "127.0.0.1"


def test_its_defaults_publish_on_loopback_beside_nginxs_own_port(tmp_path):
    ports = {(p["host_ip"], p["published"], p["target"]) for p in resolved(tmp_path)["nginx"]["ports"]}
    assert ports == {("127.0.0.1", "8080", 80), ("127.0.0.1", "8443", 443), ("127.0.0.1", "8081", 81)}


def test_the_documented_production_values_publish_https_and_http_on_every_address(tmp_path):
    services = resolved(
        tmp_path, "TLS_BIND=0.0.0.0\nTLS_PORT=443\nTLS_HTTP_PORT=80\nTLS_CERT_DIR=/etc/fbrain/tls\n"
    )
    ports = {(p["host_ip"], p["published"], p["target"]) for p in services["nginx"]["ports"]}
    assert ports == {("127.0.0.1", "8080", 80), ("0.0.0.0", "443", 443), ("0.0.0.0", "80", 81)}
    (certificates,) = [v for v in services["tls"]["volumes"] if v["target"] == "/etc/nginx/tls"]
    assert (certificates["source"], certificates["read_only"]) == ("/etc/fbrain/tls", True)


def start(tmp_path, port: str, *, certificates: bool = True) -> subprocess.CompletedProcess:
    """The terminator's start script, writing into tmp_path, with or without a certificate there."""
    if certificates:
        for name in ("fullchain.pem", "privkey.pem"):
            (tmp_path / name).write_text("PEM")
    return subprocess.run(
        ["sh", str(START_SCRIPT), str(tmp_path / "tls-port.conf"), str(tmp_path)], env={"TLS_PORT": port},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize(("port", "suffix"), [("443", ""), ("8443", ":8443"), ("", "")])
def test_the_redirect_names_the_https_port_unless_it_is_443(tmp_path, port, suffix):
    assert start(tmp_path, port).returncode == 0
    assert (
        tmp_path / "tls-port.conf"
    ).read_text() == f'map $host $tls_port_suffix {{\n    default "{suffix}";\n}}\n'


@pytest.mark.parametrize("port", ["https", "0", "65536", "-1"])
def test_a_port_that_is_no_port_stops_the_terminator(tmp_path, port):
    result = start(tmp_path, port)
    assert result.returncode == 1 and "TLS_PORT" in result.stderr
    assert not (tmp_path / "tls-port.conf").exists()


def test_a_missing_certificate_stops_the_terminator_naming_the_fix(tmp_path):
    # Compose creates a missing TLS_CERT_DIR as an empty folder; nginx alone would say "cannot load".
    result = start(tmp_path, "443", certificates=False)
    assert result.returncode == 1
    assert "No readable fullchain.pem in TLS_CERT_DIR" in result.stderr
