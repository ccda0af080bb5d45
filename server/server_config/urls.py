from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from access.views import admin_login
from server_config import health
from weather.views import dashboard

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Before the admin's own URLs, so that its login page is the rate-limited one.
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("api/", include("weather.api.urls")),
]

handler400 = "server_config.error_pages.bad_request"
handler404 = "server_config.error_pages.not_found"
handler500 = "server_config.error_pages.server_error"
