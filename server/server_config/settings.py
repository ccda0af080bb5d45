"""Django settings for F_BRAIN, read only from the environment (see .env.example)."""

import zoneinfo
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from logs.config import LOG_FORMATS, logging_config
from server_config.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_rate,
    env_secret,
    env_str,
    env_url,
)
from server_config.openapi import OPENAPI_SETTINGS
from server_config.schedule import BEAT_SCHEDULE
from task_queue.broker import broker_settings
from task_queue.queues import task_queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DJANGO_DEBUG", False)
# Debug mode is the only place a built-in key is acceptable: sessions signed with it are worthless.
SECRET_KEY = env_secret("DJANGO_SECRET_KEY", required=not DEBUG, default="insecure-key-for-debug-only")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
TIME_ZONE = env_str("TIME_ZONE", "UTC")
if TIME_ZONE not in zoneinfo.available_timezones():
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not an IANA time zone name such as Europe/Paris.")
USE_TZ = True
USE_I18N = False
LANGUAGE_CODE = "en-us"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_results",
    "django_celery_beat",
    "weather",
    "task_queue",
    "access",
    "quota",
]

MIDDLEWARE = [
    "logs.middleware.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # first and last: requests' metrics
    "server_config.health.LivenessProbeMiddleware",  # before the Host header is checked
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "server_config.urls"
WSGI_APPLICATION = "server_config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if env_bool("USE_POSTGRES", False):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": env_str("POSTGRES_DB", required=True),
            "USER": env_str("POSTGRES_USER", required=True),
            "PASSWORD": env_secret("POSTGRES_PASSWORD", required=False),
            "HOST": env_str("POSTGRES_HOST", "localhost"),
            "PORT": env_int("POSTGRES_PORT", 5432, minimum=1, maximum=65535),
            # Reused connections save a round trip per request and per task; the health check
            # drops a connection the server closed (a database restart) instead of failing on it.
            "CONN_MAX_AGE": env_int("POSTGRES_CONN_MAX_AGE", 60, minimum=0),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {"connect_timeout": env_int("POSTGRES_CONNECT_TIMEOUT", 5, minimum=1)},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("DJANGO_SQLITE_PATH", str(VAR_DIR / "db.sqlite3")),
            # web, worker, beat and Flower share the file: WAL lets readers run beside one writer,
            # IMMEDIATE transactions queue writers instead of failing with "database is locked".
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

STATIC_URL = "/static/"
STATIC_ROOT = env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles"))

# Request bodies of the API are small JSON documents; anything bigger is a mistake or an attack.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_MAX_BODY_BYTES", 1_048_576, minimum=1024)

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF cookie: the dashboard takes the token from its page's meta tag, the admin
# from its forms. So a script injected into a page cannot read it either (tests/tls).
CSRF_COOKIE_HTTPONLY = True
# Production is served over HTTPS, terminated in front of nginx (a load balancer, a TLS proxy):
# redirect plain HTTP, mark cookies secure, send HSTS. A trial on http://127.0.0.1 turns it off
# (.env.example does). nginx passes the terminator's X-Forwarded-Proto on.
DJANGO_HTTPS = env_bool("DJANGO_HTTPS", not DEBUG)
if DJANGO_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # Container health checks call these over plain HTTP from inside the container.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
# Asking browsers to preload HSTS is a commitment the operator makes for the whole domain, not a
# default the application can make: opt in with DJANGO_HSTS_PRELOAD=true.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- Who may call the API, and how often (access/, docs/security.md) -----------------------------
# Cities and their weather may be read by anyone who reaches the site; changes, runs, tasks and
# imports need an account (a token for scripts, the dashboard's session with its CSRF token).
API_PUBLIC_READS = env_bool("API_PUBLIC_READS", True)
API_TOKEN_MAX_AGE_DAYS = env_int("API_TOKEN_MAX_AGE_DAYS", 90, minimum=1, maximum=3650)  # then refused
# Budgets per client address (anonymous requests) and per user (signed-in ones), kept in the
# shared cache below so that all gunicorn workers and web replicas count together.
API_THROTTLE_ANON_RATE = env_rate("API_THROTTLE_ANON_RATE", "120/minute")
API_THROTTLE_USER_RATE = env_rate("API_THROTTLE_USER_RATE", "1200/minute")
ADMIN_LOGIN_RATE = env_rate("ADMIN_LOGIN_RATE", "10/minute")
API_THROTTLE_AUTH_FAILURE_RATE = env_rate("API_THROTTLE_AUTH_FAILURE_RATE", "60/minute")
# How many proxies append to X-Forwarded-For in front of Django: the client's address is the one
# the outermost of ours saw. nginx is one (the Compose stack); `make dev` has none. Too high a
# number lets a client choose its own address, and with it its throttle bucket.
API_PROXY_HOPS = env_int("API_PROXY_HOPS", 0 if DEBUG else 1, minimum=0, maximum=5)
# Caps on the catalogue's size: refresh costs grow with it, and so does the weather API's quota.
CITIES_MAX_TOTAL = env_int("CITIES_MAX_TOTAL", 100_000, minimum=1)
ETL_MAX_NEW_CITIES = env_int("ETL_MAX_NEW_CITIES", 10_000, minimum=1)

# Shared by every process: the per-city refresh dedup (budgets: access/budgets.py). Past MAX_ENTRIES
# Django culls live entries by key order: room for one per city at the catalogue's cap, and more.
_CACHE = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "fbrain_cache"}
CACHES = {"default": {**_CACHE, "OPTIONS": {"MAX_ENTRIES": 2 * CITIES_MAX_TOTAL}}}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["weather.api.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: a view opens up by naming its own permission classes.
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.StaffOnly"],
    "DEFAULT_THROTTLE_CLASSES": [
        "access.throttles.AnonymousAddressThrottle",
        "access.throttles.UserThrottle",
    ],
    "NUM_PROXIES": API_PROXY_HOPS,
    "EXCEPTION_HANDLER": "weather.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = OPENAPI_SETTINGS

# Logs (logs/, docs/operations.md "Logs"): JSON lines in the Compose stack, text under `make dev`.
LOG_FORMAT = env_choice("LOG_FORMAT", "text", choices=LOG_FORMATS)
_LOG_LEVEL = env_choice("DJANGO_LOG_LEVEL", "INFO", choices=("debug", "info", "warning", "error")).upper()
LOGGING_CONFIG = "logs.config.configure"
LOGGING = logging_config(log_format=LOG_FORMAT, level=_LOG_LEVEL, service=env_str("LOG_SERVICE", ""))

# --- Celery -------------------------------------------------------------------------------------
# Celery's command line reads every CELERY_<COMMAND>_<OPTION> variable as an option of its own
# (click's auto_envvar_prefix), whatever this file makes of it: CELERY_WORKER_MAX_TASKS_PER_CHILD=0
# reached the worker as `--max-tasks-per-child 0` and stopped it. The worker's settings are therefore
# read as WORKER_*, and the old names are refused instead of being half obeyed.
for _old in ("CONCURRENCY", "PREFETCH_MULTIPLIER", "MAX_TASKS_PER_CHILD"):
    if env_str(f"CELERY_WORKER_{_old}", ""):
        raise ImproperlyConfigured(f"CELERY_WORKER_{_old} is now called WORKER_{_old}: rename it in .env.")
# Where the broker is, its password (kept out of the URL, so that Flower and `inspect conf` mask it)
# and how publishes are confirmed: task_queue/broker.py says why each is so.
_broker = broker_settings(debug=DEBUG, var_dir=VAR_DIR)
CELERY_BROKER_URL = _broker.url
CELERY_BROKER_PASSWORD = _broker.password
CELERY_BROKER_TRANSPORT_OPTIONS = _broker.transport_options
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The control (pidbox) queues are transient: RabbitMQ 4.3 refuses a transient queue that is not
# exclusive, so they are exclusive (Celery 5.7's default, said here since the stack depends on it).
# After a network cut the worker reconnects while RabbitMQ still holds its old connection, and the
# exclusive queue, until heartbeats time out: a 30 s heartbeat makes the broker drop that connection,
# and hand back its unacknowledged tasks, within about a minute instead of four (the network-cut
# fault test).
CELERY_CONTROL_QUEUE_EXCLUSIVE = True
CELERY_BROKER_HEARTBEAT = 30
# A queue Celery creates on its own (a route or `-Q` naming a queue not in CELERY_TASK_QUEUES) is a
# quorum queue too: durable, replicated, and accepted by RabbitMQ 4.3.
CELERY_TASK_CREATE_MISSING_QUEUE_TYPE = "quorum"
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 4.0, minimum=0.1)

CELERY_RESULT_BACKEND = "task_queue.result_backend:RetryingDatabaseBackend"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = timedelta(days=env_int("CELERY_RESULT_EXPIRES_DAYS", 7, minimum=1))
# A result write waits out a database restart (about a minute and a half at most, jittered backoff
# from 0.5 s to 10 s) instead of failing a task that has done its work.
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 20
CELERY_RESULT_BACKEND_BASE_SLEEP_BETWEEN_RETRIES_MS = 500
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 10_000

CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True

# At-least-once delivery: a message is acknowledged only after its task ran, and a task whose
# worker process died is handed back to the broker. Prefetch 1 keeps unstarted work in the queue,
# where another worker can take it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("WORKER_PREFETCH_MULTIPLIER", 1, minimum=1)
# After a lost broker connection the unacked messages are redelivered anyway; cancelling the
# running copies keeps the same task from running twice at once.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 90, minimum=2)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be greater than CELERY_TASK_SOFT_TIME_LIMIT.")
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
# How many times RabbitMQ hands out one message before it dead-letters it (task_queue/queues.py):
# a task that kills its worker process every time stops there instead of looping forever.
CELERY_TASK_DELIVERY_LIMIT = env_int("CELERY_TASK_DELIVERY_LIMIT", 10, minimum=1, maximum=1000)
# The import steps have a queue of their own, served by workers of their own (docker-compose.yml's
# celery-imports), so a slow or large import never holds a refresh back.
ETL_QUEUE = env_str("ETL_QUEUE", "imports")
if ETL_QUEUE == CELERY_TASK_DEFAULT_QUEUE:
    raise ImproperlyConfigured("ETL_QUEUE must differ from CELERY_TASK_DEFAULT_QUEUE.")
if urlsplit(CELERY_BROKER_URL).scheme != "filesystem":
    CELERY_TASK_QUEUES = [
        task_queue(name, delivery_limit=CELERY_TASK_DELIVERY_LIMIT)
        for name in (CELERY_TASK_DEFAULT_QUEUE, ETL_QUEUE)
    ]
    CELERY_TASK_DEFAULT_EXCHANGE = CELERY_TASK_DEFAULT_QUEUE
    CELERY_TASK_DEFAULT_EXCHANGE_TYPE = "topic"
    CELERY_TASK_DEFAULT_ROUTING_KEY = CELERY_TASK_DEFAULT_QUEUE
    # `make dev`'s one worker on the filesystem broker takes every task from the default queue.
    CELERY_TASK_ROUTES = {
        f"weather.tasks.{step}": {"queue": ETL_QUEUE}
        for step in ("extract_data", "transform_data", "load_data")
    }
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_SEND_TASK_EVENTS = True
# Workers send those events without publisher confirms: each confirm held the worker's event loop
# (task_queue/events.py). Tasks are still published with confirms.
CELERY_WORKER_CONSUMER = "task_queue.events:UnconfirmedEventsConsumer"
# No task-sent event: it was a second confirmed publish on every enqueue, and Flower drops what it
# counts of them (observability/publishing.py counts sent tasks instead). A queued task shows in
# Flower once a worker receives it, and in the API from its PENDING row at once.
# Celery's Django fixup closes the database connection around every task unless this is set: a new
# PostgreSQL connection per task was a fifth of a short task's time (py-spy, docs/performance.md).
# server_config/celery.py still drops connections past POSTGRES_CONN_MAX_AGE or broken, per task.
CELERY_DB_REUSE_MAX = 1000
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("WORKER_MAX_TASKS_PER_CHILD", 0, minimum=0) or None
# KiB past which a pool process is replaced after its task (--max-memory-per-child; 0: never). "auto": the
# container's memory limit shared among the pool, applied and checked at start by task_queue/memory.py.
_auto = env_str("WORKER_MAX_MEMORY_PER_CHILD", "auto") == "auto"
WORKER_MAX_MEMORY_PER_CHILD = "auto" if _auto else env_int("WORKER_MAX_MEMORY_PER_CHILD", 0, minimum=0)
# The worker's consumer touches this file while it consumes (task_queue/liveness.py); start-worker
# kills the worker once the file is stale, so that the container is replaced.
WORKER_LIVENESS_FILE = env_str("WORKER_LIVENESS_FILE", "/tmp/celery-worker-alive")  # noqa: S108
# How long a start script waits for the database, the schema and the broker (task_queue/dependencies.py).
DEPENDENCIES_WAIT_SECONDS = env_int("DEPENDENCIES_WAIT_SECONDS", 300, minimum=0, maximum=3600)

CELERY_BEAT_SCHEDULER = "server_config.beat:LivenessDatabaseScheduler"
BEAT_LIVENESS_FILE = env_str("BEAT_LIVENESS_FILE", "/tmp/celerybeat-alive")  # noqa: S108
# Beat's Prometheus endpoint (observability/beat.py), for the monitoring profile; 0: none (make dev).
BEAT_METRICS_PORT = env_int("BEAT_METRICS_PORT", 0, minimum=0, maximum=65535)
# The periodic tasks, declared in one place: server_config/schedule.py.
CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE

# --- Weather pipeline ---------------------------------------------------------------------------
WEATHER_API_URL = env_url("WEATHER_API_URL", "https://api.open-meteo.com/v1/forecast")
GEOCODING_API_URL = env_url("GEOCODING_API_URL", "https://geocoding-api.open-meteo.com/v1/search")
WEATHER_API_KEY = env_secret("WEATHER_API_KEY", required=False)
WEATHER_API_TIMEOUT = env_float("WEATHER_API_TIMEOUT", 10.0, minimum=0.1, maximum=300)
# Open-Meteo takes up to 1,000 locations per request; 100 keeps one answer small and spreads a
# full refresh over all workers.
WEATHER_BATCH_SIZE = env_int("WEATHER_BATCH_SIZE", 100, minimum=1, maximum=1000)
WEATHER_RETENTION_DAYS = env_int("WEATHER_RETENTION_DAYS", 30, minimum=1)
WEATHER_RETRY_BACKOFF_SECONDS = env_float("WEATHER_RETRY_BACKOFF_SECONDS", 2.0, minimum=0.0)
WEATHER_RETRY_BACKOFF_MAX_SECONDS = env_float("WEATHER_RETRY_BACKOFF_MAX_SECONDS", 300.0, minimum=0.0)
# Where the dashboard links to Flower: nginx serves it under /flower/ in the Compose stack.
FLOWER_URL = env_str("FLOWER_URL", "/flower/")
ETL_IMPORT_DIR = Path(env_str("ETL_IMPORT_DIR", str(VAR_DIR / "imports")))

# --- Import sources (weather/imports/): where a source may come from, and how much is read ------
# URL sources only from these hosts: exact names, `.example.org` for a domain and its subdomains,
# or `*` for any host. Empty: URL imports are off. Addresses are checked whatever the name.
ETL_URL_ALLOWED_HOSTS = env_list("ETL_URL_ALLOWED_HOSTS", [])
# The operator's escape hatch: networks (CIDR) a URL source may reach although they are loopback,
# private or otherwise not public, e.g. an internal file server's 10.1.2.0/24. Empty by default.
ETL_URL_ALLOWED_NETWORKS = env_networks("ETL_URL_ALLOWED_NETWORKS")
ETL_MAX_REDIRECTS = env_int("ETL_MAX_REDIRECTS", 5, minimum=0, maximum=20)
# Bytes read from a source (compressed, as sent) and after gzip/deflate decompression: the 100 MB
# test file passes, a gzip bomb stops at the second cap in bounded memory.
ETL_MAX_BYTES = env_int("ETL_MAX_BYTES", 128 * 2**20, minimum=1)
ETL_MAX_DECOMPRESSED_BYTES = env_int("ETL_MAX_DECOMPRESSED_BYTES", 256 * 2**20, minimum=1)
# One CSV record (a city with an observation is under 200 bytes). The extract step holds a batch of
# 2,000 records, so this bounds its memory too; at most the CSV module's own 128 KiB field limit.
ETL_MAX_LINE_BYTES = env_int("ETL_MAX_LINE_BYTES", 8192, minimum=256, maximum=131072)
# A whole URL download, the rows staged meanwhile included. Below the import tasks' 600 s soft time
# limit, so this rule, with its clear reason, stops a slow source first.
ETL_MAX_SECONDS = env_float("ETL_MAX_SECONDS", 300.0, minimum=1.0, maximum=550.0)
# An import still open this long after it was queued was stopped by a crash (each step has a hard
# time limit of 11 minutes): the hourly sweep fails it and deletes its staged rows.
ETL_STAGING_MAX_AGE_HOURS = env_int("ETL_STAGING_MAX_AGE_HOURS", 6, minimum=1, maximum=720)

# --- Weather API quota --------------------------------------------------------------------------
# Calls Open-Meteo allows per minute, hour and UTC day (defaults: its free tier; a paid key raises
# them). One budget in PostgreSQL is shared by every worker on every host (server/quota/).
WEATHER_QUOTA_PER_MINUTE = env_int("WEATHER_QUOTA_PER_MINUTE", 600, minimum=1)
WEATHER_QUOTA_PER_HOUR = env_int("WEATHER_QUOTA_PER_HOUR", 5000, minimum=1)
WEATHER_QUOTA_PER_DAY = env_int("WEATHER_QUOTA_PER_DAY", 10_000, minimum=1)
# The windows' lengths in seconds: the provider's are 60, 3600 and 86400; tests shorten them.
WEATHER_QUOTA_MINUTE_SECONDS = env_int("WEATHER_QUOTA_MINUTE_SECONDS", 60, minimum=1)
WEATHER_QUOTA_HOUR_SECONDS = env_int("WEATHER_QUOTA_HOUR_SECONDS", 3600, minimum=1)
WEATHER_QUOTA_DAY_SECONDS = env_int("WEATHER_QUOTA_DAY_SECONDS", 86_400, minimum=1)
# Refreshes asked through the API spend all but the schedule's reserve, one account its share at most.
WEATHER_QUOTA_SCHEDULE_RESERVE = env_float("WEATHER_QUOTA_SCHEDULE_RESERVE", 0.5, minimum=0.0, maximum=0.99)
WEATHER_QUOTA_CALLER_SHARE = env_float("WEATHER_QUOTA_CALLER_SHARE", 0.05, minimum=0.0001, maximum=1.0)
if min(WEATHER_QUOTA_PER_MINUTE, WEATHER_QUOTA_PER_HOUR, WEATHER_QUOTA_PER_DAY) < WEATHER_BATCH_SIZE:
    raise ImproperlyConfigured(
        f"WEATHER_BATCH_SIZE={WEATHER_BATCH_SIZE} is more than a quota window allows (a batch costs at "
        "least a call per city; WEATHER_QUOTA_PER_MINUTE/HOUR/DAY): lower it or raise the quota."
    )
