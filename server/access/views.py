"""The admin's login page behind a per-address attempt budget (ADMIN_LOGIN_RATE)."""

import math

from django.contrib import admin
from django.http import HttpResponse

from access.throttles import AdminLoginThrottle


def admin_login(request, extra_context=None):
    if request.method == "POST":
        throttle = AdminLoginThrottle()
        if not throttle.allow_request(request, None):
            wait = max(1, math.ceil(throttle.wait() or 1))
            response = HttpResponse(
                f"Too many login attempts from your address. Try again in {wait} seconds.\n",
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = str(wait)
            return response
    return admin.site.login(request, extra_context)
