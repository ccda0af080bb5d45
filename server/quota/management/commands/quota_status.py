"""`manage.py quota_status`: what is spent and left of the weather API's budget (make status)."""

from django.core.management.base import BaseCommand

from quota.selectors import quota_status


class Command(BaseCommand):
    help = "Print the weather API's call budget: used and left per window, and any pause."

    def handle(self, **options):
        status = quota_status()
        self.stdout.write(f"Weather API quota ({status.name}), shared by every worker:")
        for window in status.windows:
            self.stdout.write(
                f"  {window.name:<6} {window.used:>12} used of {window.limit:<8} "
                f"{window.left:>12} left   resets {window.resets_at:%Y-%m-%d %H:%M:%S} UTC"
            )
        if status.paused_until is not None:
            self.stdout.write(
                f"  PAUSED until {status.paused_until:%Y-%m-%d %H:%M:%S} UTC: {status.pause_reason}"
            )
        else:
            self.stdout.write("  not paused")
