"""`Authorization: Token <key>` (or `Bearer <key>`) for scripts; the dashboard uses its session."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from access.tokens import api_token_user

KEYWORDS = (b"token", b"bearer")


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None  # another scheme (or none): the next authenticator decides
        if len(parts) != 2:
            raise AuthenticationFailed("Send the token as 'Authorization: Token <key>' or 'Bearer <key>'.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("An API token is plain ASCII.") from None
        user = api_token_user(key)
        if user is None:
            raise AuthenticationFailed(
                "This API token is unknown, revoked or expired, its user is inactive, or the user's "
                "password changed since it was issued: ask for a new one (make token)."
            )
        return user, None

    def authenticate_header(self, request):
        # Makes an anonymous request answer 401 (with this challenge) rather than 403.
        return 'Token realm="api"'
