"""Prometheus metrics that no exporter provides: the web's exposition (django-prometheus counts the
requests), the pipeline's state read from the database at scrape time, and beat's ticks.

Workers and tasks are Flower's metrics, the queues RabbitMQ's own plugin (docs/operations.md,
"Metrics and alerts"); this room adds only what those cannot know.
"""
