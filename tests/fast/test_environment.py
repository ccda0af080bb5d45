"""Every variable of .env.example is accepted at its example value and at the edge values its comment
allows, and none of them is also read, under the same name, by Celery's, Flower's or gunicorn's own
command line (it would reach them as an option: CELERY_WORKER_MAX_TASKS_PER_CHILD=0 once stopped
every worker with `--max-tasks-per-child 0`)."""

import re
import runpy

import click
import pytest
from celery.bin.celery import celery as celery_command
from django.core.exceptions import ImproperlyConfigured
from flower.options import options as flower_options

from tests.stack.stack import REPO

ENV_EXAMPLE = REPO / ".env.example"
SETTINGS = REPO / "server" / "server_config" / "settings.py"
# gunicorn reads these itself (gunicorn/config.py, app/base.py), whatever its command line says.
GUNICORN_VARIABLES = {
    "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "PORT", "SENDFILE", "FORWARDED_ALLOW_IPS", "SCRIPT_NAME",
}  # fmt: skip


def example_values() -> dict[str, str]:
    """The variables .env.example sets, and the ones it shows commented out (as empty)."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line):
            values[match[1]] = match[2]
        elif match := re.fullmatch(r"# ?([A-Z][A-Z0-9_]*)=.*", line):
            values.setdefault(match[1], "")
    return values


def settings_variables() -> set[str]:
    return set(re.findall(r'env_\w+\(\s*"([A-Z][A-Z0-9_]*)"', SETTINGS.read_text()))


def click_variables(command: click.Command, prefix: str) -> set[str]:
    """The environment variables a click command line reads: explicit ones and auto-prefixed ones."""
    names = set()
    for param in command.params:
        if isinstance(param, click.Option) and param.name:
            envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
            names.update(envvars + [f"{prefix}_{param.name.upper()}"])
    for name, sub in getattr(command, "commands", {}).items():
        names |= click_variables(sub, f"{prefix}_{name.upper().replace('-', '_')}")
    return names


def flower_variables() -> set[str]:
    # flower/command.py: FLOWER_<OPTION> sets any of its options.
    return {"FLOWER_" + name.upper().replace("-", "_") for name in flower_options._options}


def test_celery_worker_options_are_seen_by_this_check():
    # The check is only as good as its list: the option that stopped the workers must be in it.
    assert "CELERY_WORKER_MAX_TASKS_PER_CHILD" in click_variables(celery_command, "CELERY")
    assert {"CELERY_WORKER_CONCURRENCY", "BROKER_URL"} <= click_variables(celery_command, "CELERY")
    assert "FLOWER_PORT" in flower_variables()


def test_no_variable_of_the_stack_is_also_an_option_of_celery_flower_or_gunicorn():
    ours = set(example_values()) | settings_variables()
    theirs = click_variables(celery_command, "CELERY") | flower_variables() | GUNICORN_VARIABLES
    assert sorted(ours & theirs) == []


def test_the_old_worker_variable_names_are_refused_with_their_new_name(monkeypatch):
    monkeypatch.setenv("CELERY_WORKER_MAX_TASKS_PER_CHILD", "0")
    with pytest.raises(ImproperlyConfigured, match="now called WORKER_MAX_TASKS_PER_CHILD"):
        runpy.run_path(str(SETTINGS))


# What a user may write, per the comments of .env.example: the example itself, then edges.
EDGES = {
    "DJANGO_DEBUG": ["true", "false"],
    "DJANGO_HTTPS": ["true", "false"],
    "DJANGO_HSTS_SECONDS": ["0", "63072000"],
    "DJANGO_HSTS_INCLUDE_SUBDOMAINS": ["true", "false"],
    "DJANGO_HSTS_PRELOAD": ["true", "false"],
    "DJANGO_ALLOWED_HOSTS": ["example.org", "example.org,.example.net,[::1]"],
    "DJANGO_CSRF_TRUSTED_ORIGINS": ["", "https://example.org,https://*.example.net"],
    "DJANGO_LOG_LEVEL": ["DEBUG", "INFO", "WARNING", "ERROR", "warning"],
    "LOG_FORMAT": ["json", "text", "JSON"],
    "LOG_SERVICE": ["", "web", "celery-imports"],
    "DJANGO_MAX_BODY_BYTES": ["1024", "104857600"],
    "TIME_ZONE": ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires"],
    "USE_POSTGRES": ["true", "false"],
    "POSTGRES_PORT": ["1", "65535"],
    "POSTGRES_CONN_MAX_AGE": ["0", "3600"],
    "WORKER_PREFETCH_MULTIPLIER": ["1", "100"],
    "CELERY_TASK_SOFT_TIME_LIMIT": ["1", "3600"],
    "CELERY_TASK_DELIVERY_LIMIT": ["1", "1000"],
    "CELERY_RESULT_EXPIRES_DAYS": ["1", "3650"],
    "WORKER_MAX_TASKS_PER_CHILD": ["0", "", "1", "100000"],
    "WORKER_MAX_MEMORY_PER_CHILD": ["auto", "", "0", "1", "1048576", "67108864"],
    "WEATHER_API_KEY": ["", "a-key"],
    "WEATHER_API_TIMEOUT": ["0.1", "300"],
    "WEATHER_BATCH_SIZE": ["1", "1000"],
    "WEATHER_RETRY_BACKOFF_SECONDS": ["0", "60"],
    "WEATHER_RETRY_BACKOFF_MAX_SECONDS": ["0", "3600"],
    "WEATHER_RETENTION_DAYS": ["1", "3650"],
    "CELERY_BROKER_URL": ["", "amqp://u:p@broker:5672/vhost", "amqps://u:p@broker:5671/vhost"],
    "API_PUBLIC_READS": ["true", "false"],
    "API_TOKEN_MAX_AGE_DAYS": ["1", "3650"],
    "API_THROTTLE_ANON_RATE": ["1/second", "120/minute", "100000/day"],
    "API_THROTTLE_USER_RATE": ["1/s", "1200/minute", "1000000/d"],
    "ADMIN_LOGIN_RATE": ["1/hour", "10/minute"],
    "API_THROTTLE_AUTH_FAILURE_RATE": ["1/s", "60/minute"],
    "API_PROXY_HOPS": ["0", "1", "2"],
    "CITIES_MAX_TOTAL": ["1", "100000", "10000000"],
    "ETL_MAX_NEW_CITIES": ["1", "10000"],
    "WEATHER_QUOTA_PER_MINUTE": ["100", "1000000"],
    "WEATHER_QUOTA_PER_HOUR": ["100", "100000000"],
    "WEATHER_QUOTA_PER_DAY": ["100", "1000000000"],
    "WEATHER_QUOTA_MINUTE_SECONDS": ["1", "60"],
    "WEATHER_QUOTA_HOUR_SECONDS": ["1", "3600"],
    "WEATHER_QUOTA_DAY_SECONDS": ["1", "86400"],
    "WEATHER_QUOTA_SCHEDULE_RESERVE": ["0", "0.99"],
    "WEATHER_QUOTA_CALLER_SHARE": ["0.0001", "1"],
    "ETL_URL_ALLOWED_HOSTS": ["", "data.example.org", "data.example.org,.files.example.net,*"],
    "ETL_URL_ALLOWED_NETWORKS": ["", "10.1.2.0/24", "10.1.2.0/24,fd00::/8,192.0.2.7/32"],
    "ETL_MAX_REDIRECTS": ["0", "20"],
    "ETL_MAX_BYTES": ["1", "10737418240"],
    "ETL_MAX_DECOMPRESSED_BYTES": ["1", "10737418240"],
    "ETL_MAX_LINE_BYTES": ["256", "131072"],
    "ETL_MAX_SECONDS": ["1", "550"],
    "ETL_STAGING_MAX_AGE_HOURS": ["1", "720"],
    "DEPENDENCIES_WAIT_SECONDS": ["0", "300", "3600"],
    "BEAT_METRICS_PORT": ["0", "9100", "65535"],
}
# What the settings need alongside an edge: CELERY_TASK_TIME_LIMIT must stay above the soft limit;
# a batch may not cost more than a quota window allows: 1,000 cities need a paid plan's minute.
COMPANIONS = {
    ("CELERY_TASK_SOFT_TIME_LIMIT", "3600"): {"CELERY_TASK_TIME_LIMIT": "3700"},
    ("WEATHER_BATCH_SIZE", "1000"): {"WEATHER_QUOTA_PER_MINUTE": "1000"},
}
# Secrets a user must set (.env.example's placeholders are refused by `make up`, not by Django).
SECRETS = {
    "DJANGO_SECRET_KEY": "s" * 50, "POSTGRES_PASSWORD": "p", "RABBITMQ_PASSWORD": "r", "FLOWER_PASSWORD": "f",
}  # fmt: skip
# Read by the stack around Django (Compose, Swarm, start scripts, nginx, make): the stack tiers check them.
NOT_DJANGO = re.compile(
    r"(RABBITMQ|FLOWER|GUNICORN|NGINX|COMPOSE|PROMETHEUS)_.*|.*_IMAGE|SEED_CITIES|WORKER_CONCURRENCY|WORKER_LIVENESS_MAX_AGE"
    r"|CELERY_REPLICAS|WEB_REPLICAS|SWARM_WAIT_SECONDS|BUILD_CA_BUNDLE|ETL_WORKER_(CONCURRENCY|REPLICAS)"
    r"|.*_MEMORY_LIMIT|LOG_MAX_(SIZE|FILE)|CONTAINER_PIDS_LIMIT|FBRAIN_SECRETS_DIR"
    # make check-https, docker-compose.tls.yml and the Swarm render read these (test_check_https.py,
    # test_tls_override.py, test_stack_file.py check their edges).
    r"|ALLOW_PUBLIC_PLAIN_HTTP|TLS_(BIND|PORT|HTTP_PORT|CERT_DIR)|SWARM_OVERLAY_ENCRYPTION"
)


def load_settings(monkeypatch, **overrides: str) -> dict:
    # The Compose stack's view: .env.example with its secrets set; the broker URL comes from Compose.
    environment = {**example_values(), **SECRETS, "CELERY_BROKER_URL": "amqp://u:p@rabbitmq:5672/fbrain"}
    for name, value in {**environment, **overrides}.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_every_django_variable_of_env_example_has_its_edges_checked():
    django_variables = {name for name in example_values() if not NOT_DJANGO.fullmatch(name)}
    unchecked = django_variables - set(EDGES) - {"DJANGO_SECRET_KEY", "POSTGRES_PASSWORD"}
    # Free text without edges: names, paths and URLs, checked at their example value below.
    unchecked -= {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_HOST", "BEAT_LIVENESS_FILE", "ETL_IMPORT_DIR",
                  "WORKER_LIVENESS_FILE", "WEATHER_API_URL", "GEOCODING_API_URL", "CELERY_TASK_TIME_LIMIT",
                  "CELERY_TASK_DEFAULT_QUEUE", "ETL_QUEUE"}  # fmt: skip
    assert sorted(unchecked) == []
    assert django_variables <= settings_variables() | {"CELERY_BROKER_URL"}


def test_the_example_values_are_accepted(monkeypatch):
    settings = load_settings(monkeypatch)
    assert settings["CELERY_WORKER_MAX_TASKS_PER_CHILD"] is None
    assert settings["DEBUG"] is False


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, values in EDGES.items() for value in values], ids=str
)
def test_an_edge_value_is_accepted(monkeypatch, name, value):
    overrides = {name: value, **COMPANIONS.get((name, value), {})}
    if name == "CELERY_BROKER_URL" and value == "":
        overrides["RABBITMQ_URL"] = "amqp://u:p@rabbitmq:5672/fbrain"  # the other spelling it accepts
    load_settings(monkeypatch, **overrides)
