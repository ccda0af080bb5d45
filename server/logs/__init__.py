"""Logs people can search: one format for every process (web, workers, beat, Flower, gunicorn),
JSON lines or readable text (settings.LOG_FORMAT), with the request id of a web request and the
task id and name of a Celery task on each line, so that one id finds both sides (docs/operations.md)."""
