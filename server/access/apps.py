from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Who may call the API and how often: tokens, permissions, throttles."""

    name = "access"

    def ready(self):
        # Registers the token scheme with drf-spectacular, so the OpenAPI schema declares it.
        from access import schema  # noqa: F401
