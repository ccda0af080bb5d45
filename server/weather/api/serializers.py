from rest_framework import serializers

from weather.imports.sources import source_display
from weather.models import City, PipelineRun, WeatherData
from weather.names import name_refused_characters


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else: REST framework would turn 12 into "12"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class NameField(StrictCharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        refused = name_refused_characters(value)
        if refused:
            raise serializers.ValidationError(
                f"Names may not hold control, bidi or zero-width characters; found {', '.join(refused)}."
            )
        return value


class StrictFloatField(serializers.FloatField):
    """A JSON number and nothing else: REST framework would take true as 1.0 and "45" as 45.0."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class CityInputSerializer(serializers.Serializer):
    name = NameField(max_length=200, min_length=2, trim_whitespace=True)
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": "Use a two-letter ISO 3166 country code, such as FR."},
    )
    latitude = StrictFloatField(required=False, min_value=-90, max_value=90)
    longitude = StrictFloatField(required=False, min_value=-180, max_value=180)
    timezone = StrictCharField(required=False, allow_blank=True, default="", max_length=64)

    def validate(self, attrs):
        if ("latitude" in attrs) != ("longitude" in attrs):
            raise serializers.ValidationError(
                "Give both latitude and longitude, or neither to geocode the name."
            )
        return attrs


class CitySerializer(serializers.ModelSerializer):
    class Meta:
        model = City
        fields = ["id", "name", "country", "latitude", "longitude", "timezone", "active", "created_at"]


class CityWithLatestSerializer(CitySerializer):
    latest_observed_at = serializers.DateTimeField(allow_null=True, read_only=True)
    latest_temperature = serializers.FloatField(allow_null=True, read_only=True)

    class Meta(CitySerializer.Meta):
        fields = [*CitySerializer.Meta.fields, "latest_observed_at", "latest_temperature"]


class WeatherDataSerializer(serializers.ModelSerializer):
    class Meta:
        model = WeatherData
        fields = ["id", "city", "observed_at", *WeatherData.MEASUREMENTS, "source", "fetched_at"]


class LimitSerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=50)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=1_000_000_000, default=0)


class RunFilterSerializer(LimitSerializer):
    kind = serializers.ChoiceField(choices=PipelineRun.Kind.choices, required=False)


class PipelineRunSerializer(serializers.ModelSerializer):
    duration_seconds = serializers.FloatField(allow_null=True, read_only=True)
    # Runs recorded before sources were stored for display may hold credentials or a server path.
    source = serializers.SerializerMethodField()

    class Meta:
        model = PipelineRun
        fields = [
            "id",
            "kind",
            "state",
            "task_id",
            "source",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "cities_total",
            "cities_ok",
            "cities_failed",
            "cities_deferred",
            "deferred_until",
            "rows_total",
            "rows_invalid",
            "observations_loaded",
            "error_summary",
        ]

    def get_source(self, run: PipelineRun) -> str:
        return source_display(run.source)


class PipelineRunDetailSerializer(PipelineRunSerializer):
    class Meta(PipelineRunSerializer.Meta):
        fields = [*PipelineRunSerializer.Meta.fields, "errors"]


class EtlInputSerializer(serializers.Serializer):
    source = StrictCharField(
        max_length=2000, help_text="An http(s) URL of a CSV file, or a file name inside ETL_IMPORT_DIR."
    )

    def validate_source(self, value: str) -> str:
        # What a source may be (its URL, host, address, file name) is the import rules' to say, in one
        # place: workflows.etl_run_enqueue -> services.etl.etl_source_check -> weather/imports/.
        if name_refused_characters(value):
            raise serializers.ValidationError("A source may not hold control, bidi or zero-width characters.")
        return value


class TaskEnqueuedSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    status_url = serializers.CharField()


class RunEnqueuedSerializer(TaskEnqueuedSerializer):
    run_id = serializers.IntegerField()
    run_url = serializers.CharField()


class TaskStatusSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    task_name = serializers.CharField(allow_null=True)
    state = serializers.CharField()
    result = serializers.JSONField(required=False)
    error = serializers.CharField(required=False)
    worker = serializers.CharField(allow_null=True)
    date_done = serializers.DateTimeField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    extra = serializers.DictField()
