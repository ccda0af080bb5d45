"""Error answers outside the API views: JSON for API clients, Django's pages for people."""

from django.http import JsonResponse
from django.views import defaults


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"message": f"No endpoint at {request.path}.", "extra": {}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _wants_json(request):
        return JsonResponse({"message": "Internal error; it has been logged.", "extra": {}}, status=500)
    return defaults.server_error(request)


def bad_request(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"message": "Bad request.", "extra": {}}, status=400)
    return defaults.bad_request(request, exception)
