"""Issuing, revoking and checking API tokens (services and the one selector they need)."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from access.models import ApiToken

# Marks the string as ours, so secret scanners and people can tell an F_BRAIN token at a glance.
TOKEN_PREFIX = "fbr_"  # noqa: S105 - a fixed prefix, not a secret


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_mark(user: AbstractBaseUser) -> str:
    """What ties a token to the password its user had: a digest of the stored (salted) hash."""
    return _digest(user.password)


def api_token_issue(*, user: AbstractBaseUser) -> str:
    """A new token for `user`; the only time its clear text exists is in the return value."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(
        user=user, digest=_digest(token), prefix=token[:12], password_mark=password_mark(user)
    )
    return token


def api_tokens_revoke(*, user: AbstractBaseUser) -> int:
    """Delete every token of `user`; returns how many there were."""
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return deleted


def api_token_user(token: str) -> AbstractBaseUser | None:
    """The active user a token belongs to, or None for an unknown, revoked or inactive one, one
    older than API_TOKEN_MAX_AGE_DAYS, or one issued before its user's password last changed."""
    oldest = timezone.now() - timedelta(days=settings.API_TOKEN_MAX_AGE_DAYS)
    row = ApiToken.objects.select_related("user").filter(digest=_digest(token), created_at__gt=oldest).first()
    if row is None or not row.user.is_active:
        return None
    if not secrets.compare_digest(row.password_mark, password_mark(row.user)):
        return None
    return row.user
