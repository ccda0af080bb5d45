"""One place where errors become HTTP answers: `{"message": ..., "extra": {...}}`, never a traceback."""

import math

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from weather.errors import (
    ApplicationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    QuotaExhaustedError,
    UnavailableError,
)

_STATUS = {
    NotFoundError: status.HTTP_404_NOT_FOUND,
    ConflictError: status.HTTP_409_CONFLICT,
    InvalidInputError: status.HTTP_400_BAD_REQUEST,
    UnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
    QuotaExhaustedError: status.HTTP_429_TOO_MANY_REQUESTS,
}


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        code = next(
            (code for cls, code in _STATUS.items() if isinstance(exc, cls)), status.HTTP_400_BAD_REQUEST
        )
        headers = {"Retry-After": "5"} if code == status.HTTP_503_SERVICE_UNAVAILABLE else None
        if isinstance(exc, QuotaExhaustedError):
            # Whole seconds, rounded up: a client that waits this long finds room.
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        return Response({"message": exc.message, "extra": exc.extra}, status=code, headers=headers)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"message": f"The request body is larger than {limit} bytes.", "extra": {"max_bytes": limit}},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django logs it and answers 500
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"message": "The request has invalid fields.", "extra": {"fields": response.data}}
    elif isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        # The same figure as the Retry-After header, for clients that read only the body.
        response.data = {"message": str(exc.detail), "extra": {"retry_after_seconds": exc.wait}}
    else:
        response.data = {"message": str(exc.detail), "extra": {}}
    return response
