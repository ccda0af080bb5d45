"""Request budgets kept in the shared cache (PostgreSQL, see CACHES), so every gunicorn worker and
every web replica counts against the same numbers. Rates are read from settings on each request."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingRateThrottle(SimpleRateThrottle):
    rate_setting = ""

    def get_rate(self) -> str:
        return getattr(settings, self.rate_setting)


class AnonymousAddressThrottle(_SettingRateThrottle):
    """Anonymous requests, per client address (the one nginx saw, see API_PROXY_HOPS)."""

    scope = "anon-address"
    rate_setting = "API_THROTTLE_ANON_RATE"

    def get_cache_key(self, request, view) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UserThrottle(_SettingRateThrottle):
    """Signed-in requests, per user, whatever address or token they come from."""

    scope = "user"
    rate_setting = "API_THROTTLE_USER_RATE"

    def get_cache_key(self, request, view) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AdminLoginThrottle(_SettingRateThrottle):
    """Login attempts to the admin, per client address. Works on a plain Django request."""

    scope = "admin-login"
    rate_setting = "ADMIN_LOGIN_RATE"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
