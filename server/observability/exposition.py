"""The web container's /metrics, for Prometheus on the backend network only.

Served by a WSGI wrapper in front of Django rather than by a Django view: Prometheus asks for
http://web:8000/metrics, a host name that DJANGO_ALLOWED_HOSTS rightly does not list, and a scrape
must not count itself among the site's requests or be redirected to HTTPS. A request that came
through nginx (which always sets X-Forwarded-For) is refused: nginx refuses the path too, so this
is the second lock, kept in case a future location forwards it.

gunicorn runs several worker processes: with PROMETHEUS_MULTIPROC_DIR set (docker-compose.yml, a
tmpfs wiped by start-web), each process writes its counters to files there and any one of them
sums all the files when scraped (prometheus_client's multiprocess mode). Without it (make dev, the
tests), the process's own registry is read.
"""

import os
from collections.abc import Callable, Iterable

from django.db import close_old_connections
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from observability.collectors import PipelineCollector
from observability.publishing import tasks_sent_count

METRICS_PATH = "/metrics"
_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def metrics_text() -> bytes:
    pipeline = CollectorRegistry(auto_describe=False)
    pipeline.register(PipelineCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    try:
        return generate_latest(processes) + generate_latest(pipeline)
    finally:
        # Outside Django's request cycle: give back a connection the collector may have broken.
        close_old_connections()


def with_metrics_endpoint(app: Callable) -> Callable:
    """Wraps the WSGI application: GET /metrics from a direct peer answers the metrics."""
    tasks_sent_count()

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != METRICS_PATH:
            return app(environ, start_response)
        if any(environ.get(header) for header in _PROXY_HEADERS):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found\n"]
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")])
            return [b"Method not allowed\n"]
        body = metrics_text()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    return application
