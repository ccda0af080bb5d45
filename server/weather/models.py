from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class City(models.Model):
    name = models.CharField(max_length=200)
    # ISO 3166-1 alpha-2 code; empty when unknown.
    country = models.CharField(max_length=2, blank=True, default="")
    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])
    timezone = models.CharField(max_length=64, blank=True, default="")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "cities"
        ordering = ["name", "country"]
        constraints = [
            models.UniqueConstraint(fields=["name", "country"], name="city_unique_name_country"),
            models.CheckConstraint(
                condition=models.Q(latitude__gte=-90, latitude__lte=90), name="city_latitude_range"
            ),
            models.CheckConstraint(
                condition=models.Q(longitude__gte=-180, longitude__lte=180), name="city_longitude_range"
            ),
        ]
        indexes = [models.Index(fields=["active", "id"], name="city_active_id")]

    def __str__(self) -> str:
        return f"{self.name}, {self.country}" if self.country else self.name


class WeatherData(models.Model):
    # The measured quantities, the one list the fetch, the ETL import, the API and the admin read.
    MEASUREMENTS = ("temperature", "humidity", "pressure", "wind_speed", "wind_direction", "weather_code")

    city = models.ForeignKey(City, on_delete=models.CASCADE, related_name="observations")
    observed_at = models.DateTimeField()
    temperature = models.FloatField(null=True, help_text="°C at 2 m")
    humidity = models.FloatField(null=True, help_text="Relative humidity at 2 m, %")
    pressure = models.FloatField(null=True, help_text="Surface pressure, hPa")
    wind_speed = models.FloatField(null=True, help_text="At 10 m, km/h")
    wind_direction = models.FloatField(null=True, help_text="At 10 m, degrees")
    weather_code = models.IntegerField(null=True, help_text="WMO weather interpretation code")
    source = models.CharField(max_length=32, default="open-meteo")
    fetched_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "weather data"
        ordering = ["-observed_at"]
        # One row per city and observation time: a repeated fetch updates it instead of adding one.
        constraints = [
            models.UniqueConstraint(fields=["city", "observed_at"], name="weather_unique_city_time")
        ]
        indexes = [models.Index(fields=["observed_at"], name="weather_observed_at")]

    def __str__(self) -> str:
        return f"{self.city_id} @ {self.observed_at:%Y-%m-%d %H:%M}"


class PipelineRun(models.Model):
    class Kind(models.TextChoices):
        REFRESH = "refresh", "Full refresh"
        ETL = "etl", "ETL import"

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCESS = "success"
        PARTIAL = "partial", "Finished with failures"
        FAILURE = "failure"

    FINISHED_STATES = (State.SUCCESS, State.PARTIAL, State.FAILURE)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # The id of the task that drives the run: a redelivered task finds its run instead of adding one.
    task_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    source = models.CharField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cities_total = models.PositiveIntegerField(default=0)
    cities_ok = models.PositiveIntegerField(default=0)
    cities_failed = models.PositiveIntegerField(default=0)
    # Refresh: cities left for later because the day's API budget could not pay for them, and when
    # that budget renews (the next beat tick after it fetches them first: they are the stalest).
    cities_deferred = models.PositiveIntegerField(default=0)
    deferred_until = models.DateTimeField(null=True, blank=True)
    rows_total = models.PositiveIntegerField(default=0, help_text="ETL: data rows read")
    rows_invalid = models.PositiveIntegerField(default=0, help_text="ETL: rows rejected by the transform")
    observations_loaded = models.PositiveIntegerField(default=0)
    error_summary = models.TextField(blank=True, default="")
    # Bounded sample of per-item failures ({"line"|"city_id", "error"}), for operators.
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class EtlRow(models.Model):
    """One CSV line of an ETL run, staged in the database between the chain's steps.

    The steps pass only the run id through the broker; the rows wait here, so an input of any
    size never travels as a message.
    """

    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="etl_rows")
    line = models.PositiveIntegerField()
    raw = models.JSONField()
    clean = models.JSONField(null=True)
    error = models.TextField(blank=True, default="")
    # False when extract could not read the line (encoding, field count); transform then keeps
    # extract's error instead of validating the row again.
    readable = models.BooleanField(default=True)
    # What makes two rows the same record (name, country, time); the database finds duplicates
    # with it, so memory does not grow with the input's size.
    dedup_key = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "line"], name="etlrow_unique_run_line")]
        indexes = [models.Index(fields=["run", "dedup_key", "line"], name="etlrow_run_dedup_line")]

    def __str__(self) -> str:
        return f"run {self.run_id} line {self.line}"
