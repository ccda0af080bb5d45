"""The Compose tier: one real stack per session, built from this checkout and torn down at the end,
even when a test fails, leaving no container, volume or network behind."""

import shutil
from pathlib import Path

import pytest

from tests.stack.stack import REPO, Stack

BUILD_CA = REPO / "server" / "docker" / "build-ca" / "host.crt"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    # This machine reaches PyPI through a TLS-inspecting proxy: give its CA to the build stage.
    if HOST_CA.is_file():
        shutil.copyfile(HOST_CA, BUILD_CA)
    stack = Stack.create(tmp_path_factory.mktemp("stack"))
    try:
        stack.compose("build", timeout=900)
        stack.compose("up", "-d", "--wait", "--wait-timeout", "300", timeout=400)
        yield stack
    finally:
        logs = stack.compose("logs", "--no-color", "--timestamps", check=False, timeout=120).stdout
        (REPO / "build").mkdir(exist_ok=True)
        (REPO / "build" / "stack-test.log").write_text(logs)
        stack.compose("down", "-v", "--remove-orphans", "--timeout", "30", check=False, timeout=300)
