"""The two log formats: JSON lines for machines (the Compose stack), text for people (`make dev`).

Both add the same context to a line: the request id of the web request it was logged in, and the
task id and name of the Celery task. Both hide secrets a message or a traceback may carry.
"""

import json
import logging
import re
from datetime import UTC, datetime

from celery import current_task

from logs.context import request_id_var

# Attributes every LogRecord has, and ones that are not context: anything else on a record came
# from `extra=` and is written as a field of its own. Django's `request` and Celery's `data` are
# objects the message already describes (and a request's query string is no field to copy).
_NOT_EXTRA = set(logging.makeLogRecord({}).__dict__) | {
    "message", "asctime", "taskName", "request", "data", "request_id", "task_id", "task_name",
}  # fmt: skip

# Secrets that could reach a message or a traceback: a password in a URL (a broker URL), a key or
# token in a query string (Open-Meteo's `apikey`, in the URL a requests exception quotes), an
# Authorization value, NAME=value of a password or secret.
_SECRETS = [
    (re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]+@", re.I), r"\1:***@"),
    (re.compile(r"([?&;](?:api_?key|access_token|token|password|secret)=)[^&\s'\"]+", re.I), r"\1***"),
    (re.compile(r"\b(Token|Bearer|Basic) [A-Za-z0-9._~+/=-]{16,}"), r"\1 ***"),
    (re.compile(r"(\w*(?:password|passwd|secret)\w*\s*[=:]\s*)['\"]?[^\s'\",&]+", re.I), r"\1***"),
]

# Line breaks that JSON leaves raw but some readers split lines on.
_UNICODE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def record_context(record: logging.LogRecord) -> dict[str, str]:
    """request_id, task_id and task_name of a line: given with `extra=`, else the current request's
    and task's, else (Celery's "Task x[id] received/succeeded" lines) the task the line is about."""
    context = {}
    request_id = getattr(record, "request_id", None) or request_id_var.get()
    if request_id:
        context["request_id"] = request_id
    task_id, task_name = getattr(record, "task_id", None), getattr(record, "task_name", None)
    if task_id is None:
        task = current_task._get_current_object()
        data = getattr(record, "data", None)
        if task is not None and task.request.id:
            task_id, task_name = task.request.id, task.name
        elif isinstance(data, dict) and data.get("id"):
            task_id, task_name = data["id"], data.get("name")
    if task_id:
        context["task_id"] = str(task_id)
        if task_name:
            context["task_name"] = str(task_name)
    return context


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ms), level, service, logger, message, the context,
    fields given with `extra=`, and the exception with its traceback when there is one."""

    def __init__(self, service: str = "app") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, UTC)
        entry = {
            "time": f"{created:%Y-%m-%dT%H:%M:%S}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **record_context(record),
        }
        for key, value in record.__dict__.items():
            if key not in _NOT_EXTRA and not key.startswith("_") and key not in entry:
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        trace = "\n".join(
            filter(None, [record.exc_text, record.stack_info and self.formatStack(record.stack_info)])
        )
        if trace:
            entry["exception"] = redact(trace)
        try:
            line = json.dumps(entry, ensure_ascii=False, default=str, allow_nan=False)
        except (TypeError, ValueError):  # a dict with odd keys, a NaN: as text rather than no line
            line = json.dumps(
                {k: v if isinstance(v, str) else str(v) for k, v in entry.items()}, ensure_ascii=False
            )
        return line.translate(_UNICODE_BREAKS)


class TextFormatter(logging.Formatter):
    """Celery's and Django's familiar line, with the context after the message's first line."""

    def __init__(self, service: str = "app") -> None:
        super().__init__("[%(asctime)s: %(levelname)s/%(name)s] %(message)s")
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        context = record_context(record)
        if not context:
            return text
        first, newline, rest = text.partition("\n")
        suffix = " ".join(f"{key}={value}" for key, value in context.items())
        return f"{first} ({suffix}){newline}{rest}"
