"""Every web request gets an id: nginx's (X-Request-Id), else a new one. It is on every log line of
the request, on the tasks the request queues (logs/celery_context.py), and in the response's
X-Request-Id header, so a caller can quote it and an operator can grep for it."""

from django.core.signals import request_finished
from django.dispatch import receiver

from logs.context import request_id_accept, request_id_var


class RequestIdMiddleware:
    """First in settings.MIDDLEWARE, so that every other middleware's lines and answers carry it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_accept(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        # Left set when the middleware returns: Django logs a 4xx or 5xx answer ("Not Found: ...")
        # after the whole middleware chain has run. Cleared once the response is closed (below).
        request_id_var.set(request_id)
        response = self.get_response(request)
        response["X-Request-Id"] = request_id
        return response


@receiver(request_finished)
def _request_id_cleared(**kwargs) -> None:
    # The server closed the response: lines logged from here on (by this thread, between
    # requests) belong to no request.
    request_id_var.set(None)
