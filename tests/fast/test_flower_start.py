"""Flower's start script (server/docker/start-flower) refuses a login Flower would split."""

import subprocess
from pathlib import Path

import pytest

START_FLOWER = Path(__file__).resolve().parents[2] / "server" / "docker" / "start-flower"


def start(**environment: str) -> subprocess.CompletedProcess:
    base = {
        "PATH": "/usr/bin:/bin",
        "FLOWER_USER": "admin",
        "RABBITMQ_USER": "fbrain",
        "RABBITMQ_PASSWORD": "r",
    }
    return subprocess.run(
        ["bash", str(START_FLOWER)], env={**base, **environment}, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    "login", [{"FLOWER_PASSWORD": "half,other"}, {"FLOWER_USER": "ad,min", "FLOWER_PASSWORD": "p"}]
)
def test_a_comma_in_flowers_user_or_password_is_refused_at_start_with_a_clear_message(login):
    result = start(**login)
    assert result.returncode == 1
    assert "must not contain a comma" in result.stderr


def test_a_comma_in_the_password_file_is_refused_too(tmp_path):
    (tmp_path / "flower_password").write_text("from,file\n")
    result = start(FLOWER_PASSWORD_FILE=str(tmp_path / "flower_password"))
    assert result.returncode == 1 and "must not contain a comma" in result.stderr
