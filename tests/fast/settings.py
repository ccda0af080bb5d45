"""Settings of the fast tier: the real PostgreSQL and RabbitMQ on this machine.

Only the environment is set here; everything else is the production settings module, read the
way a deployment reads it. The worker subprocess inherits the same environment.
"""

import os
import socket
import tempfile
import uuid


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_stub_port = int(os.environ.setdefault("FBRAIN_TEST_STUB_PORT", str(_free_port())))
_scratch = os.environ.setdefault("FBRAIN_TEST_SCRATCH", tempfile.mkdtemp(prefix="fbrain-test-"))
# Queues of this session's own, so nothing else on the shared broker takes its tasks.
_queue = f"fbrain-test-{uuid.uuid4().hex[:12]}"
_defaults = {
    "DJANGO_SECRET_KEY": "fast-tier-test-key-not-secret-0123456789abcdefghijklmnopqrstuvwxyz",
    "DJANGO_DEBUG": "false",
    # The test client speaks plain HTTP; test_settings checks the HTTPS settings on their own.
    "DJANGO_HTTPS": "false",
    "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    "USE_POSTGRES": "true",
    "POSTGRES_DB": "fbrain",
    "POSTGRES_USER": "postgres",
    "POSTGRES_HOST": "127.0.0.1",
    "POSTGRES_PORT": "5432",
    "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    "CELERY_TASK_DEFAULT_QUEUE": _queue,
    "ETL_QUEUE": f"{_queue}-imports",
    "WEATHER_API_URL": f"http://127.0.0.1:{_stub_port}/v1/forecast",
    "GEOCODING_API_URL": f"http://127.0.0.1:{_stub_port}/v1/search",
    "WEATHER_API_TIMEOUT": "1.5",
    "WEATHER_RETRY_BACKOFF_SECONDS": "0.2",
    "WEATHER_RETRY_BACKOFF_MAX_SECONDS": "1",
    "WEATHER_BATCH_SIZE": "5",
    # A poison message reaches its dead-letter queue after 3 deliveries instead of 10.
    "CELERY_TASK_DELIVERY_LIMIT": "3",
    "ETL_IMPORT_DIR": os.path.join(_scratch, "imports"),
    # 127.0.0.2 plays a remote import source (tests/import_source.py); the one network allowed.
    # localhost is allowed by name, so that the address rule is what must refuse it.
    "ETL_URL_ALLOWED_HOSTS": "127.0.0.2,localhost",
    "ETL_URL_ALLOWED_NETWORKS": "127.0.0.2/32",
    "BEAT_LIVENESS_FILE": os.path.join(_scratch, "beat-alive"),
    "WORKER_LIVENESS_FILE": os.path.join(_scratch, "worker-alive"),
    # A pool process is replaced past 300 MiB: well above a Django worker's ~80 MiB, well below a leak's.
    "WORKER_MAX_MEMORY_PER_CHILD": str(300 * 1024),
    "DJANGO_LOG_LEVEL": "WARNING",
    # Budgets no ordinary test reaches; the throttle tests lower them with the settings fixture.
    "API_THROTTLE_ANON_RATE": "100000/minute",
    "API_THROTTLE_USER_RATE": "100000/minute",
    "ADMIN_LOGIN_RATE": "100000/minute",
    # Caps small enough for a test to cross with a small file, above what the other tests load
    # (the 100 MB import: 1,000 cities). The worker process reads these too.
    "ETL_MAX_NEW_CITIES": "3000",
    "CITIES_MAX_TOTAL": "4000",
}
for _name, _value in _defaults.items():
    os.environ.setdefault(_name, _value)
os.makedirs(os.environ["ETL_IMPORT_DIR"], exist_ok=True)

from server_config.settings import *  # noqa: E402, F403

# The worker of this tier also runs tasks that inject faults (a task that kills its own process)
# and one that defers itself.
CELERY_IMPORTS = ["tests.fast.fault_tasks", "tests.fast.deferral_tasks"]
