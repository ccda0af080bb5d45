"""One stack behind docker-compose.tls.yml's terminator, set up the way docs/security.md's "The terminator
this repository ships" says, with a CA and a site certificate made by openssl for this run."""

import re
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.stack.stack import MACHINE_ENV, REPO, Stack, env_lines, free_port, running_stack

SECURITY_DOC = REPO / "docs" / "security.md"
SECTION = "### The terminator this repository ships"
# The site's name in the certificate and in every request: the doc's example host stands for it.
SITE = "localhost"


def documented_blocks() -> tuple[dict[str, str], list[str]]:
    """The section's `env` block (the .env lines) and its `sh` block (the commands), as written."""
    section = SECURITY_DOC.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    env_block = re.search(r"```env\n(.*?)```", section, re.S)[1]
    sh_block = re.search(r"```sh\n(.*?)```", section, re.S)[1]
    env = dict(line.split("=", 1) for line in env_block.splitlines() if line.strip())
    return env, [line.strip() for line in sh_block.splitlines() if line.strip()]


def tier_overrides(documented: dict[str, str]) -> dict[str, str]:
    """The doc's lines with only what this machine must change: the host name, loopback and free
    ports instead of every address and 443/80, and the test's own Compose file kept in COMPOSE_FILE."""
    overrides = {name: value.replace("fbrain.example.org", SITE) for name, value in documented.items()}
    assert overrides.pop("TLS_BIND") == "0.0.0.0"
    overrides.update(TLS_BIND="127.0.0.1", TLS_PORT=str(free_port()), TLS_HTTP_PORT=str(free_port()))
    machine_files = env_lines(MACHINE_ENV)["COMPOSE_FILE"].split(":")
    files = documented["COMPOSE_FILE"].split(":")
    overrides["COMPOSE_FILE"] = ":".join(dict.fromkeys(machine_files + files))
    return overrides


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA made for this run and a certificate for SITE signed by it: ca.pem, fullchain.pem, privkey.pem."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=F_BRAIN TLS tier CA",
        "-keyout", "ca.key", "-out", "ca.pem",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        f"/CN={SITE}",
        "-keyout",
        "privkey.pem",
        "-out",
        "site.csr",
    )
    (folder / "site.ext").write_text(
        f"subjectAltName=DNS:{SITE},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,"
        "keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    openssl(
        "x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "site.ext", "-out", "fullchain.pem",
    )  # fmt: skip
    return folder / "ca.pem", folder / "fullchain.pem", folder / "privkey.pem"


@pytest.fixture(scope="session")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls-ca"))


@pytest.fixture(scope="session")
def stack(tmp_path_factory, certificates):
    documented, commands = documented_blocks()
    overrides = tier_overrides(documented)
    _, chain, key = certificates

    def install_certificates(stack: Stack) -> None:
        # "Put your certificate chain and its key in the checkout", then the doc's commands up to
        # `make up`, which the README's own commands run next.
        for path in (chain, key):
            (stack.directory / path.name).write_bytes(path.read_bytes())
        for command in commands[: commands.index("make up")]:
            stack.timed(command)

    with running_stack(tmp_path_factory.mktemp("tls"), prepare=install_certificates, **overrides) as stack:
        stack.tls_port, stack.tls_http_port = int(overrides["TLS_PORT"]), int(overrides["TLS_HTTP_PORT"])
        yield stack


@pytest.fixture(scope="session")
def trusting(certificates) -> ssl.SSLContext:
    """A client that trusts the run's CA only, and checks the certificate's name."""
    return ssl.create_default_context(cafile=str(certificates[0]))
