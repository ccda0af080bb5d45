"""Wait, bounded, until the database, its schema and the broker are ready (the start scripts'
first step: Swarm has no depends_on). Returns at once when they are. Its lines go through the
logging configuration, so they are JSON lines like the rest of the service's output (LOG_FORMAT)."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from task_queue.dependencies import CHECKS, DependenciesNotReady, wait_for_dependencies

logger = logging.getLogger("task_queue.dependencies")


class Command(BaseCommand):
    help = "Wait until the database, the schema and the broker are ready; fail after the bound."
    # Cheap and quiet on every container start: Django's system checks are the other commands' job.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="Seconds to wait before failing (default: DEPENDENCIES_WAIT_SECONDS).",
        )
        parser.add_argument(
            "--checks",
            default=",".join(CHECKS),
            help=f"Comma-separated, among {', '.join(CHECKS)}: Flower, which never opens the "
            "database, waits for the broker only.",
        )

    def handle(self, *args, timeout, checks, **options):
        wanted = [check.strip() for check in checks.split(",") if check.strip()]
        if unknown := sorted(set(wanted) - set(CHECKS)):
            raise CommandError(f"Unknown check(s) {', '.join(unknown)}: choose among {', '.join(CHECKS)}.")
        bound = settings.DEPENDENCIES_WAIT_SECONDS if timeout is None else timeout
        try:
            wait_for_dependencies(checks=wanted, timeout=bound, report=logger.warning)
        except DependenciesNotReady as exc:
            logger.error("Dependencies not ready, not starting: %s", exc)
            raise SystemExit(1) from None
