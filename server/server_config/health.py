"""Liveness and readiness endpoints for load balancers and container health checks."""

import logging

from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from server_config.celery import app

logger = logging.getLogger(__name__)


class LivenessProbeMiddleware:
    """Answers the container's own health check whatever DJANGO_ALLOWED_HOSTS says.

    The probe asks http://127.0.0.1:8000/healthz from inside the container. An operator who lists
    only the site's public name in DJANGO_ALLOWED_HOSTS (as on a Swarm, or behind a domain) would
    otherwise get a 400 for every probe and a web container that never turns healthy. Only that
    request is answered here: GET /healthz from the loopback, not passed on by nginx, whose Host is
    not allowed. Every other request, the probe with an allowed Host included, takes the normal path.
    """

    LOOPBACK = ("127.0.0.1", "::1")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.path_info == "/healthz"
            and request.method == "GET"
            and request.META.get("REMOTE_ADDR") in self.LOOPBACK
            and "HTTP_X_FORWARDED_FOR" not in request.META
            and not _host_allowed(request)
        ):
            return JsonResponse({"status": "ok"})
        return self.get_response(request)


def _host_allowed(request) -> bool:
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True


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
