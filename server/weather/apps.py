from django.apps import AppConfig


class WeatherConfig(AppConfig):
    name = "weather"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Celery's autodiscovery imports `weather.tasks` only; the workflows module defines the
        # refresh's fan-out task, which a worker must know too.
        from weather import workflows  # noqa: F401
