"""What every process of the stack needs before it starts: the database, its schema (every
migration applied), and the broker.

Compose orders the start with `depends_on` conditions; Docker Swarm has no start order at all, and
restarts a task that exits. So each start script waits here first (`manage.py
wait_for_dependencies`), bounded by DEPENDENCIES_WAIT_SECONDS: a process never starts against a
missing table or a broker that is not there yet, and a dependency that never comes fails the start
with a message naming it, instead of a traceback from deep inside Django or Celery.
"""

import time
from collections.abc import Callable, Iterable

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from server_config.celery import app
from task_queue.queues import declare_topology

# How often a missing dependency is looked at again, and how often the wait says so in the log.
POLL_SECONDS = 1.0
REPORT_EVERY_SECONDS = 5.0
CHECKS = ("database", "schema", "broker")


class DependenciesNotReady(Exception):
    """A dependency was still missing when the bound ran out."""


def database_problem() -> str | None:
    try:
        connection.ensure_connection()
    except Exception as exc:  # psycopg's errors vary (refused, DNS, auth): each means "not ready"
        connection.close()
        return f"the database at {_database_address()} does not answer: {_one_line(exc)}"
    return None


def schema_problem() -> str | None:
    """Migrations not applied yet: the migrate job has not run, or runs now."""
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        connection.close()
        return f"the schema cannot be read: {_one_line(exc)}"
    if plan:
        first = plan[0][0]
        return (
            f"the schema is not migrated: {len(plan)} migration(s) not applied "
            f"(first {first.app_label}.{first.name}); the migrate job applies them"
        )
    return None


def broker_problem() -> str | None:
    """The broker answers and holds the app's whole topology (declared here, before any worker binds
    it: task_queue/queues.py, declare_topology)."""
    with app.connection_for_write() as broker:
        try:
            broker.ensure_connection(max_retries=0)
        except Exception as exc:  # kombu's errors vary (refused, DNS, access refused)
            return f"the broker at {_broker_address()} does not answer: {_one_line(exc)}"
        if broker.transport.driver_type != "amqp":
            return None  # make dev's filesystem transport: no exchanges, no delayed delivery
        try:
            declare_topology(broker, app.amqp.queues.values())
        except Exception as exc:  # a declaration the broker refuses (arguments, permissions)
            return f"the broker at {_broker_address()} refused the task queues: {_one_line(exc)}"
    return None


PROBLEMS: dict[str, Callable[[], str | None]] = {
    "database": database_problem,
    "schema": schema_problem,
    "broker": broker_problem,
}


def missing(checks: Iterable[str]) -> list[str]:
    """What is missing now, in order; the schema is not looked at while the database is down."""
    problems = []
    for check in checks:
        if check == "schema" and any(p.startswith("the database") for p in problems):
            continue
        if problem := PROBLEMS[check]():
            problems.append(problem)
    return problems


def wait_for_dependencies(
    *,
    checks: Iterable[str],
    timeout: float,
    report: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return as soon as nothing is missing; raise DependenciesNotReady after `timeout` seconds."""
    checks = tuple(checks)
    started = clock()
    reported = None
    while problems := missing(checks):
        waited = clock() - started
        if waited >= timeout:
            raise DependenciesNotReady(
                f"gave up after {waited:.0f} s (DEPENDENCIES_WAIT_SECONDS={timeout:g}): "
                + "; ".join(problems)
            )
        if reported is None or clock() - reported >= REPORT_EVERY_SECONDS:
            report(f"waiting ({waited:.0f} s of {timeout:g} s): " + "; ".join(problems))
            reported = clock()
        sleep(min(POLL_SECONDS, max(timeout - waited, 0)))


def _database_address() -> str:
    settings = connection.settings_dict
    return f"{settings.get('HOST') or 'localhost'}:{settings.get('PORT') or 5432}/{settings['NAME']}"


def _broker_address() -> str:
    # The host and port only: the URL may hold a password.
    with app.connection_for_write() as broker:
        return f"{broker.hostname}:{broker.port}"


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
