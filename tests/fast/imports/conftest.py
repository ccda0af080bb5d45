"""Import sources against real local servers. 127.0.0.2 plays a remote source and is the only
network the tests allow (ETL_URL_ALLOWED_NETWORKS); 127.0.0.1 plays the inside, which no rule may
let a source reach. Only DNS is played, for names of the tests' own (`*.test`)."""

import io
import re
import socket
import subprocess
from ipaddress import ip_network
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.import_source import ImportSource
from weather.imports import addresses
from weather.imports.refusals import ImportRefused
from weather.imports.sources import source_check, source_open

OUTSIDE = "127.0.0.2"
INSIDE = "127.0.0.1"


@pytest.fixture
def rules(settings):
    settings.ETL_URL_ALLOWED_HOSTS = [OUTSIDE, "files.test", "mirror.test"]
    settings.ETL_URL_ALLOWED_NETWORKS = [ip_network(f"{OUTSIDE}/32")]
    return settings


@pytest.fixture
def source(rules):
    with ImportSource(OUTSIDE) as server:
        yield server


@pytest.fixture
def inside():
    with ImportSource(INSIDE) as server:
        yield server


@pytest.fixture
def dns(monkeypatch):
    """Names of the tests' own: each lookup of a name takes the next answer in its list (the last
    one again when the list runs out), so a test can change what a name resolves to."""
    answers: dict[str, list[list[str]]] = {}
    lookups: list[str] = []
    system = addresses.host_addresses

    def resolve(host: str, port: int):
        lookups.append(host)
        if host not in answers:
            return system(host, port)
        turn = answers[host][min(lookups.count(host), len(answers[host])) - 1]
        return [
            (socket.AF_INET6, (ip, port, 0, 0)) if ":" in ip else (socket.AF_INET, (ip, port)) for ip in turn
        ]

    monkeypatch.setattr(addresses, "host_addresses", resolve)
    return SimpleNamespace(answers=answers, lookups=lookups)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for files.test (the client trusts it through SSL_CERT_FILE)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=files.test",
         "-addext", "subjectAltName=DNS:files.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def read(location: str) -> bytes:
    with source_open(source_check(location)) as stream:
        return io.TextIOWrapper(stream, encoding="utf-8", newline="").read().encode()


def drain(location: str) -> None:
    """Read a source to its end without keeping it, as the extract step does."""
    with source_open(source_check(location)) as stream:
        while stream.read(64 * 1024):
            pass


def refusal(location: str) -> str:
    with pytest.raises(ImportRefused) as caught:
        drain(location)
    return str(caught.value)


class PeakMemory:
    """Peak resident memory over a block, of this process or of given ones (a worker's pool, where
    each import runs in one process: the largest growth of any one). The kernel's high-water marks
    are reset first (/proc/PID/clear_refs), so what ran before does not count."""

    def __init__(self, pids: list[int | str] | None = None):
        self.pids = pids or ["self"]

    def __enter__(self):
        self.before_kib = {}
        for pid in self.pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.before_kib[pid] = _status_kib("VmRSS", pid)
        return self

    def __exit__(self, *exc) -> None:
        peaks = {pid: _status_kib("VmHWM", pid) for pid in self.pids}
        self.growth_mib = max(peaks[pid] - self.before_kib[pid] for pid in self.pids) / 1024
        self.peak_mib = max(peaks.values()) / 1024


def _status_kib(field: str, pid: int | str = "self") -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def pool_pids(worker_pid: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()]
