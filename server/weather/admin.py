from django.contrib import admin

from weather.models import City, PipelineRun, WeatherData

# Task results and periodic tasks are registered by django-celery-results and django-celery-beat.


@admin.register(City)
class CityAdmin(admin.ModelAdmin):
    list_display = ["name", "country", "latitude", "longitude", "timezone", "active"]
    list_filter = ["active", "country"]
    search_fields = ["name", "country"]


@admin.register(WeatherData)
class WeatherDataAdmin(admin.ModelAdmin):
    list_display = ["city", "observed_at", *WeatherData.MEASUREMENTS]
    list_filter = ["source"]
    search_fields = ["city__name"]
    date_hierarchy = "observed_at"
    list_select_related = ["city"]
    raw_id_fields = ["city"]


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "state",
        "created_at",
        "finished_at",
        "cities_ok",
        "cities_failed",
        "rows_invalid",
    ]
    list_filter = ["kind", "state"]
    readonly_fields = [field.name for field in PipelineRun._meta.fields] + ["errors"]
