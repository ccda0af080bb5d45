"""The OpenAPI document's own settings (drf-spectacular), served at /api/schema/ (server_config/urls.py)."""

OPENAPI_SETTINGS = {
    "TITLE": "F_BRAIN weather pipeline API",
    "DESCRIPTION": (
        "Cities, their weather observations, and the Celery pipeline that fetches them. Changes need "
        "an account: `Authorization: Token <key>` (or `Bearer <key>`) for scripts, the session and "
        "its CSRF token in a browser. Runs, tasks and imports are for staff."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}
