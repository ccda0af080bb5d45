import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server_config.settings")

application = get_wsgi_application()

# After Django is set up: the metrics read its models. Prometheus's /metrics (observability/exposition.py).
from observability.exposition import with_metrics_endpoint  # noqa: E402

application = with_metrics_endpoint(application)
