"""`Authorization: Token <key>` (or `Bearer <key>`) for scripts; the dashboard uses its session."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

from access.throttles import AuthFailureThrottle
from access.tokens import api_token_user

KEYWORDS = (b"token", b"bearer")


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None  # another scheme (or none): the next authenticator decides
        if len(parts) != 2:
            _refuse(request, "Send the token as 'Authorization: Token <key>' or 'Bearer <key>'.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            _refuse(request, "An API token is plain ASCII.")
        user = api_token_user(key)
        if user is None:
            _refuse(
                request,
                "This API token is unknown, revoked or expired, its user is inactive, or the user's "
                "password changed since it was issued: ask for a new one (make token).",
            )
        return user, None

    def authenticate_header(self, request):
        # Makes an anonymous request answer 401 (with this challenge) rather than 403.
        return 'Token realm="api"'


def _refuse(request, message: str) -> None:
    """A failed authentication spends the address's failure budget (API_THROTTLE_AUTH_FAILURE_RATE):
    401 while some is left, 429 with Retry-After once it is spent. Only failures count, so a valid
    token is never slowed by this: tokens are 256-bit random (access/models.py), guessing one is
    not the threat; an unbounded stream of lookups answered for free is."""
    throttle = AuthFailureThrottle()
    if not throttle.allow_request(request, None):
        raise Throttled(wait=throttle.wait())
    raise AuthenticationFailed(message)
