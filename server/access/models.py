from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A script's credential. Only a SHA-256 digest is stored: a copy of the database (a backup,
    a dump handed to someone) holds nothing that authenticates. The token is random (256 bits),
    so a fast hash is enough; a slow one would only make every API call slower."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    # The token's first characters, to tell a user's tokens apart in the admin; they prove nothing.
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    # A digest of the user's password hash when the token was issued: a password change (admin,
    # changepassword, a reset) makes it differ, and the token is refused from then on.
    password_mark = models.CharField(max_length=64, default="")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class ThrottleBudget(models.Model):
    """One request budget's current window: how many requests `key` has made since `window_start`
    (seconds since the epoch). One row per live budget, counted by one upsert per request
    (access/budgets.py); a row whose window has ended is only waiting to be swept, never culled
    while it counts. The table is UNLOGGED on PostgreSQL: no WAL per request, and a crash of the
    database forgets the budgets (they refill), which is the price of a counter on every request."""

    key = models.CharField(max_length=200, primary_key=True)
    window_start = models.BigIntegerField()
    window_end = models.BigIntegerField(db_index=True)
    hits = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.key}: {self.hits} since {self.window_start}"
