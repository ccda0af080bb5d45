import secrets

import pytest

from tests.stack.stack import running_stack

# 127.0.0.1 stands for a TLS terminator in front of nginx: requests made from inside nginx's own
# container are a trusted proxy's, requests through the published port are an outsider's.
TRUSTED_PROXY = "127.0.0.1"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One real, hardened stack for the security tier, torn down at the end even when a test fails."""
    # A paid plan's key, so that the tier can look for it where it must not show (docker inspect).
    key = "fbr-test-weather-key-" + secrets.token_hex(8)
    overrides = {"NGINX_TRUSTED_PROXIES": TRUSTED_PROXY, "WEATHER_API_KEY": key}
    with running_stack(tmp_path_factory.mktemp("security"), **overrides) as stack:
        yield stack


# Which running service holds a copy of each secret file (docker-compose.yml `secrets:`).
_HOLDERS = {
    "django_secret_key": "web",
    "postgres_password": "web",
    "rabbitmq_password": "web",
    "flower_password": "flower",
    "weather_api_key": "celery",
}


@pytest.fixture(scope="session")
def stack_secrets(stack) -> dict[str, str]:
    """Each secret's value, read where the stack itself reads it: the files mounted in its containers."""
    read = {
        name: stack.compose("exec", "-T", service, "cat", f"/run/secrets/{name}")
        for name, service in _HOLDERS.items()
    }
    return {name: result.stdout.strip() for name, result in read.items()}
