"""The dashboard at `/`: server-rendered, with a little JavaScript for the chart and the buttons."""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from quota.selectors import quota_status
from weather import selectors


@require_GET
def dashboard(request):
    cities = list(selectors.city_list_with_latest()[:500])
    context = {
        "cities": cities,
        "city_count": selectors.city_list().count(),
        "runs": list(selectors.run_list()[:10]),
        "chart_city": next((c for c in cities if c.latest_observed_at), cities[0] if cities else None),
        "flower_url": settings.FLOWER_URL,
        "quota": quota_status(),
    }
    return render(request, "weather/dashboard.html", context)
