"""The request id a log line belongs to, wherever it is logged from.

A context variable, not a thread-local: each gunicorn worker thread and each `runserver` thread has
its own context, and a Celery task sets it from its message (logs/celery_context.py).
"""

import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# What an incoming X-Request-Id may be: nginx's $request_id (32 hex digits), a UUID, or another
# proxy's token. Anything else (too short to be unique, too long, quotes, spaces, line breaks that
# would forge a log line) is replaced: a caller must not choose what the logs say.
_ACCEPTED = re.compile(r"[A-Za-z0-9._-]{8,128}")


def request_id_accept(value: str | None) -> str:
    """The incoming id when it is well formed, else a new one."""
    if value is not None and _ACCEPTED.fullmatch(value):
        return value
    return uuid.uuid4().hex
