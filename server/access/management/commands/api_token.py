"""Issue (or revoke) an API token for an existing user. Creates no user: an account comes from
`make createsuperuser` or the admin, so a typo in a name cannot mint a new identity."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from access.tokens import api_token_issue, api_tokens_revoke


class Command(BaseCommand):
    help = (
        "Print a new API token for USERNAME on stdout (what it did goes to stderr), or revoke "
        "every token of USERNAME with --revoke. Earlier tokens stay valid until revoked, until they "
        "expire (API_TOKEN_MAX_AGE_DAYS) or until the password changes."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true", help="Delete the user's tokens instead.")

    def handle(self, *args, username: str, revoke: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"No user named {username!r}; nothing was created. Make the account first "
                "(make createsuperuser, or the admin's Users page), then ask again."
            )
        if revoke:
            count = api_tokens_revoke(user=user)
            self.stderr.write(f"Revoked {count} API token(s) of {username!r}.")
            return
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; a token of theirs would be refused.")
        token = api_token_issue(user=user)
        role = "staff" if user.is_staff else "not staff: reads and the permissions given in the admin"
        self.stderr.write(
            f"Issued a new API token for {username!r} ({role}). It is shown once, here; "
            "send it as 'Authorization: Token <key>'. Revoke with --revoke."
        )
        self.stdout.write(token)
