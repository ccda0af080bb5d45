"""`manage.py dead_letters list|requeue|discard`: the tasks that reached their delivery limit."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from server_config.celery import app
from task_queue.dead_letters import dead_letters_discard, dead_letters_list, dead_letters_requeue
from task_queue.queues import dead_letter_queue_name


class Command(BaseCommand):
    help = "List, requeue or discard the tasks in a queue's dead-letter queue."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "requeue", "discard"])
        parser.add_argument("task_ids", nargs="*", help="Task ids to requeue or discard.")
        parser.add_argument("--all", action="store_true", help="Requeue every dead letter.")
        parser.add_argument("--queue", default=settings.CELERY_TASK_DEFAULT_QUEUE)

    def handle(self, action, task_ids, all, queue, **options):
        if not str(settings.CELERY_BROKER_URL).startswith(("amqp", "pyamqp")):
            raise CommandError("Dead-letter queues exist on RabbitMQ only; this broker has none.")
        if action != "list" and not task_ids and not (action == "requeue" and all):
            raise CommandError(
                f"Name the task ids to {action}" + (", or pass --all." if action == "requeue" else ".")
            )
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=3)
            if action == "list":
                self._list(connection, queue)
            elif action == "requeue":
                done = dead_letters_requeue(
                    connection, queue_name=queue, task_ids=None if all else set(task_ids)
                )
                self._report("Requeued", done, task_ids, queue)
            else:
                done = dead_letters_discard(connection, queue_name=queue, task_ids=set(task_ids))
                self._report("Discarded", done, task_ids, queue)

    def _list(self, connection, queue: str) -> None:
        letters = dead_letters_list(connection, queue_name=queue)
        self.stdout.write(f"{len(letters)} dead letter(s) in {dead_letter_queue_name(queue)}")
        for letter in letters:
            self.stdout.write(
                f"{letter.task_id}  {letter.task_name}{letter.args or '()'}  "
                f"reason={letter.reason} dead-lettered={letter.deaths}x"
            )

    def _report(self, verb: str, done: list[str], asked: list[str], queue: str) -> None:
        self.stdout.write(f"{verb} {len(done)} task(s) from {dead_letter_queue_name(queue)}")
        for task_id in done:
            self.stdout.write(f"  {task_id}")
        missing = set(asked) - set(done)
        if missing:
            raise CommandError(f"Not in the dead-letter queue: {', '.join(sorted(missing))}")
