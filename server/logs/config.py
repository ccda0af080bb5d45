"""The logging configuration of every process: settings.LOGGING is built here, and Django, Celery's
worker and beat (logs/celery_context.py) and gunicorn (logs/gunicorn_logger.py) all apply it."""

import logging
import logging.config
import sys
from pathlib import Path

LOG_FORMATS = ("json", "text")
_FORMATTERS = {"json": "logs.formatters.JsonFormatter", "text": "logs.formatters.TextFormatter"}


def service_name(argv: list[str]) -> str:
    """The role a process plays, from its command line: web, worker, beat, flower, or the
    management command's name (migrate, shell, ...). LOG_SERVICE overrides it."""
    program = Path(argv[0]).name if argv else ""
    words = argv[1:]
    if program == "manage.py" and words:
        return "web" if words[0] == "runserver" else words[0]
    if "gunicorn" in program:
        return "web"
    for role in ("worker", "beat", "flower"):
        if role in words:
            return role
    return program if program and not program.startswith("-") else "app"


def logging_config(*, log_format: str, level: str, service: str = "") -> dict:
    """A dictConfig: one handler on the root logger, in `log_format`, that every logger reaches.
    `service` names the process on each line; empty, its role (service_name) does."""
    service = service or service_name(sys.argv)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": _FORMATTERS[log_format], "service": service}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            # Django's own handlers (a console one in debug mode, runserver's plain request lines)
            # would print their lines in another format, or twice: the root handler takes them.
            "django": {"handlers": [], "propagate": True},
            "django.server": {"handlers": [], "propagate": True},
        },
    }


def configure(config: dict) -> None:
    """Apply a logging_config() (settings.LOGGING_CONFIG names this function). Python's warnings
    become log lines too, so that nothing reaches the output in another format."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
