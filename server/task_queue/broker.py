"""The broker's settings, read from the environment once by server_config/settings.py."""

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from server_config.env import env_secret, env_str, env_url
from task_queue.filesystem_broker import use_for_filesystem_urls

SCHEMES = ("amqp", "amqps", "pyamqp", "filesystem")


@dataclass(frozen=True)
class BrokerSettings:
    url: str
    password: str | None
    transport_options: dict


def broker_settings(*, debug: bool, var_dir: Path) -> BrokerSettings:
    # Without a broker URL, debug mode runs on kombu's filesystem transport so that `make dev` needs
    # no server; outside debug mode a missing broker is a configuration error.
    if env_str("CELERY_BROKER_URL", ""):
        url = env_url("CELERY_BROKER_URL", schemes=SCHEMES)
    elif env_str("RABBITMQ_URL", ""):
        url = env_url("RABBITMQ_URL", schemes=SCHEMES)
    elif debug:
        url = "filesystem://localhost/"
    else:
        raise ImproperlyConfigured("CELERY_BROKER_URL (or RABBITMQ_URL) must be set unless DJANGO_DEBUG=true")
    # The password is kept out of the URL: Celery masks `broker_password` in `inspect conf` (what
    # Flower's worker pages and /flower/api/workers show), but masks a URL only under the exact key
    # `broker_url`, never the namespaced CELERY_BROKER_URL. A password written in the URL is moved
    # out; otherwise it comes from RABBITMQ_PASSWORD or RABBITMQ_PASSWORD_FILE (the Compose secret).
    parts = urlsplit(url)
    if parts.password is not None:
        password = unquote(parts.password)
        userinfo, hostinfo = parts.netloc.rsplit("@", 1)
        url = parts._replace(netloc=f"{userinfo.split(':', 1)[0]}@{hostinfo}").geturl()
    else:
        password = env_secret("RABBITMQ_PASSWORD", required=False) or None
    if parts.scheme != "filesystem":
        # Each publish waits for the broker's ack: a message the broker refuses raises instead of
        # vanishing.
        return BrokerSettings(url, password, {"confirm_publish": True})
    use_for_filesystem_urls()
    folder = Path(env_str("CELERY_BROKER_FILESYSTEM_DIR", str(var_dir / "broker")))
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        # The default 1 s poll makes every control reply (Flower, `celery inspect`) miss its 1 s timeout.
        "polling_interval": 0.1,
    }
    return BrokerSettings(url, password, options)
