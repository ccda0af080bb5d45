"""The catalogue's size limits: every city costs weather API quota on each full refresh, so
neither one request nor one import may grow it without bound (CITIES_MAX_TOTAL, ETL_MAX_NEW_CITIES)."""

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.db.models.fields.json import KT

from weather.errors import ConflictError
from weather.models import City, EtlRow


def city_room_check() -> None:
    """Refuse one more city when the catalogue is full. Two requests at the same moment may both
    pass at the last free place: the cap bounds growth, it is not an exact count."""
    limit = settings.CITIES_MAX_TOTAL
    if City.objects.count() >= limit:
        raise ConflictError(
            f"The catalogue already holds its maximum of {limit} cities (CITIES_MAX_TOTAL).",
            {"max_cities": limit},
        )


def etl_city_caps_refusal(*, run_id: int) -> str:
    """Why loading this import's valid rows would break a cap, or "" when it would not."""
    staged = EtlRow.objects.filter(run_id=run_id, clean__isnull=False).annotate(
        city_name=KT("clean__name"), city_country=KT("clean__country")
    )
    existing = City.objects.filter(name=OuterRef("city_name"), country=OuterRef("city_country"))
    new = staged.exclude(Exists(existing)).values("city_name", "city_country").distinct().count()
    per_import, total = settings.ETL_MAX_NEW_CITIES, settings.CITIES_MAX_TOTAL
    if new > per_import:
        return f"The import would add {new} new cities; one import may add {per_import} (ETL_MAX_NEW_CITIES)."
    present = City.objects.count()
    if present + new > total:
        return (
            f"The import would add {new} new cities to {present}; the catalogue holds at most {total} "
            "(CITIES_MAX_TOTAL)."
        )
    return ""
