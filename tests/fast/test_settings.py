"""Start-up refuses a missing or malformed setting with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from server_config import env

SERVER = Path(__file__).resolve().parents[2] / "server"
VALID = {
    "DJANGO_SECRET_KEY": "k" * 50,
    "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    "DJANGO_SQLITE_PATH": ":memory:",
}


def start(*command: str, **overrides) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CELERY_", "POSTGRES_", "WEATHER"))
    }
    base = {k: v for k, v in base.items() if k not in ("USE_POSTGRES", "RABBITMQ_URL", "TIME_ZONE")}
    environment = {**base, **VALID, **overrides, "DJANGO_SETTINGS_MODULE": "server_config.settings"}
    environment = {k: v for k, v in environment.items() if v is not None}
    return subprocess.run(
        [sys.executable, "manage.py", *(command or ["check"])],
        cwd=SERVER,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_starts_with_valid_settings():
    result = start()
    assert result.returncode == 0, result.stderr


def test_the_deployment_checklist_reports_nothing_with_production_settings():
    # What the stack's web container runs with: PostgreSQL, RabbitMQ, debug off, HTTPS on by default.
    result = start(
        "check", "--deploy", "--fail-level", "DEBUG",
        DJANGO_SECRET_KEY="q8Vt3-mZ0pLr7Xc2sN9kWb4Hy1Ue6JaD5fGo8TiQ0vRlMnSx_zPw",
        USE_POSTGRES="true", POSTGRES_DB="fbrain", POSTGRES_USER="fbrain", POSTGRES_HOST="db",
        DJANGO_ALLOWED_HOSTS="weather.example.org",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_the_deployment_checklist_names_what_plain_http_gives_up():
    result = start("check", "--deploy", DJANGO_HTTPS="false", DJANGO_ALLOWED_HOSTS="weather.example.org")
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr + result.stdout, check


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG='maybe' is not a boolean"),
        ({"USE_POSTGRES": "true", "POSTGRES_DB": None}, "POSTGRES_DB must be set"),
        (
            {"USE_POSTGRES": "true", "POSTGRES_DB": "x", "POSTGRES_USER": "x", "POSTGRES_PORT": "54x"},
            "POSTGRES_PORT='54x' is not an integer",
        ),
        ({"CELERY_BROKER_URL": None}, "CELERY_BROKER_URL (or RABBITMQ_URL) must be set"),
        ({"CELERY_BROKER_URL": "rabbit://host"}, "CELERY_BROKER_URL='rabbit://host' is not a valid URL"),
        ({"WEATHER_API_URL": "ftp://x"}, "WEATHER_API_URL='ftp://x' is not a valid URL"),
        ({"WEATHER_RETENTION_DAYS": "0"}, "WEATHER_RETENTION_DAYS=0 is below the minimum of 1"),
        ({"WEATHER_BATCH_SIZE": "5000"}, "WEATHER_BATCH_SIZE=5000 is above the maximum of 1000"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE='Mars/Olympus' is not an IANA time zone"),
        (
            {"CELERY_TASK_TIME_LIMIT": "10", "CELERY_TASK_SOFT_TIME_LIMIT": "20"},
            "CELERY_TASK_TIME_LIMIT must be",
        ),
        ({"DJANGO_ALLOWED_HOSTS": "a,,b"}, "DJANGO_ALLOWED_HOSTS='a,,b' has an empty item"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_the_variable(overrides, message):
    result = start(**overrides)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_broker_falls_back_to_rabbitmq_url():
    result = start(CELERY_BROKER_URL=None, RABBITMQ_URL="amqp://u:p@rabbitmq:5672/")
    assert result.returncode == 0, result.stderr


def test_debug_mode_runs_without_secret_or_broker():
    result = start(DJANGO_DEBUG="true", DJANGO_SECRET_KEY=None, CELERY_BROKER_URL=None)
    assert result.returncode == 0, result.stderr


def test_a_secret_can_come_from_a_file(tmp_path, monkeypatch):
    (tmp_path / "key").write_text("from-a-file\n")
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "key"))
    assert env.env_secret("SOME_SECRET", required=True) == "from-a-file"
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "absent"))
    with pytest.raises(ImproperlyConfigured, match="SOME_SECRET_FILE="):
        env.env_secret("SOME_SECRET", required=True)


def test_an_empty_file_means_no_optional_secret_and_is_refused_for_a_required_one(tmp_path, monkeypatch):
    # `make secrets` writes secrets/weather_api_key empty on the free tier: no key, no error.
    (tmp_path / "weather_api_key").write_text("\n")
    monkeypatch.setenv("WEATHER_API_KEY_FILE", str(tmp_path / "weather_api_key"))
    assert env.env_secret("WEATHER_API_KEY", required=False) == ""
    with pytest.raises(ImproperlyConfigured, match="is empty"):
        env.env_secret("WEATHER_API_KEY", required=True)


@pytest.mark.parametrize("value", ["True", "FALSE", "1", "off"])
def test_booleans_accept_the_usual_spellings(monkeypatch, value):
    monkeypatch.setenv("SOME_FLAG", value)
    assert env.env_bool("SOME_FLAG", default=False) in (True, False)


def test_a_non_finite_float_is_refused(monkeypatch):
    monkeypatch.setenv("SOME_FLOAT", "nan")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLOAT='nan' is not a finite number"):
        env.env_float("SOME_FLOAT", 1.0)


@pytest.mark.parametrize("value", ["lots", "0/minute", "10/fortnight", "10 / minute", "-1/s"])
def test_a_malformed_rate_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("SOME_RATE", value)
    with pytest.raises(ImproperlyConfigured, match=r"SOME_RATE=.* is not a rate"):
        env.env_rate("SOME_RATE", "1/minute")


@pytest.mark.parametrize("value", ["120/minute", "5/s", "1000/day", "3/h"])
def test_rates_are_a_count_per_unit(monkeypatch, value):
    monkeypatch.setenv("SOME_RATE", value)
    assert env.env_rate("SOME_RATE", "1/minute") == value


def test_the_broker_password_is_kept_out_of_the_url_celery_shows(tmp_path):
    # Celery masks broker_password in `inspect conf` (Flower's pages) but not CELERY_BROKER_URL.
    show = (
        "from server_config.celery import app; t = app.conf.table(); "
        "print(t['CELERY_BROKER_URL'], t['CELERY_BROKER_PASSWORD'], app.conf.broker_password)"
    )
    url = "amqp://u@rabbitmq:5672/v"
    in_url = start("shell", "-c", show, CELERY_BROKER_URL="amqp://u:s%40cret@rabbitmq:5672/v")
    assert in_url.stdout.splitlines()[-1].split() == [url, "********", "s@cret"]
    (tmp_path / "password").write_text("from-a-file\n")
    from_file = start(
        "shell", "-c", show, CELERY_BROKER_URL=url,
        RABBITMQ_PASSWORD_FILE=str(tmp_path / "password"),
    )  # fmt: skip
    assert from_file.stdout.splitlines()[-1].split() == [url, "********", "from-a-file"]
