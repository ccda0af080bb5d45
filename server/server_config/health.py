"""Liveness and readiness endpoints for load balancers and container health checks."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from server_config.celery import app

logger = logging.getLogger(__name__)


@require_GET
def healthz(request):
    # Alive means the process answers; dependencies are readiness, not liveness.
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request):
    checks = {"database": _check_database(), "broker": _check_broker()}
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        logger.warning("readiness: database unreachable: %s", exc)
        connection.close()
        return f"error: {type(exc).__name__}"
    return "ok"


def _check_broker() -> str:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0)
    except Exception as exc:
        logger.warning("readiness: broker unreachable: %s", exc)
        return f"error: {type(exc).__name__}"
    return "ok"
