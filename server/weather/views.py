"""The dashboard at `/`: server-rendered, with a little JavaScript for the chart and the buttons."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from quota.selectors import quota_status
from weather import selectors


@require_GET
def dashboard(request):
    # The page shows what the API would: cities to everyone while API_PUBLIC_READS is on, runs and
    # the API budget to staff.
    login_url = reverse("admin-login")
    if not (settings.API_PUBLIC_READS or request.user.is_authenticated):
        return redirect_to_login(request.get_full_path(), login_url)
    cities = list(selectors.city_list_with_latest()[:500])
    context = {
        "cities": cities,
        "city_count": selectors.city_list().count(),
        "runs": list(selectors.run_list()[:10]) if request.user.is_staff else None,
        "login_url": f"{login_url}?next=/",
        "chart_city": next((c for c in cities if c.latest_observed_at), cities[0] if cities else None),
        "flower_url": settings.FLOWER_URL,
        # The budget and the provider's 429 reason are the operator's, as GET /api/quota/ is staff's.
        "quota": quota_status() if request.user.is_staff else None,
    }
    return render(request, "weather/dashboard.html", context)
