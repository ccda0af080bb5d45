"""Request budgets kept in PostgreSQL (access/budgets.py), so every gunicorn worker and every web
replica counts against the same numbers. Rates are read from settings on each request."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from access.budgets import budget_spend


class _SettingRateThrottle(SimpleRateThrottle):
    """DRF's throttle with its key and rate, counted in a fixed window of the budgets table
    instead of a list of timestamps in the cache: one round trip per request."""

    rate_setting = ""
    _retry_after: float | None = None

    def get_rate(self) -> str:
        return getattr(settings, self.rate_setting)

    def allow_request(self, request, view) -> bool:
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        limit, window_seconds = self.parse_rate(self.get_rate())
        spent = budget_spend(key, limit=limit, window_seconds=window_seconds)
        self._retry_after = None if spent.allowed else spent.retry_after
        return spent.allowed

    def wait(self) -> float | None:
        return self._retry_after


class _AddressThrottle(_SettingRateThrottle):
    """A budget per client address: the one nginx saw (see API_PROXY_HOPS)."""

    def get_cache_key(self, request, view) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AnonymousAddressThrottle(_AddressThrottle):
    """Anonymous requests, per client address."""

    scope = "anon-address"
    rate_setting = "API_THROTTLE_ANON_RATE"

    def get_cache_key(self, request, view) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return super().get_cache_key(request, view)


class UserThrottle(_SettingRateThrottle):
    """Signed-in requests, per user, whatever address or token they come from."""

    scope = "user"
    rate_setting = "API_THROTTLE_USER_RATE"

    def get_cache_key(self, request, view) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AdminLoginThrottle(_AddressThrottle):
    """Login attempts to the admin, per client address. Works on a plain Django request."""

    scope = "admin-login"
    rate_setting = "ADMIN_LOGIN_RATE"


class AuthFailureThrottle(_AddressThrottle):
    """Failed token authentications, per client address. DRF authenticates before any throttle
    runs, so without this a bad token was answered 401 at no cost to the caller, forever."""

    scope = "auth-failure"
    rate_setting = "API_THROTTLE_AUTH_FAILURE_RATE"
