from django.core.management.base import BaseCommand

from weather.workflows import refresh_run_enqueue


class Command(BaseCommand):
    help = "Queue a full refresh of every active city (what beat does every 3 hours)."

    def handle(self, *args, **options):
        run = refresh_run_enqueue()
        self.stdout.write(f"Queued refresh run {run.id} (task {run.task_id}).")
