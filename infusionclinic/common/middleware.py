from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .context import client_context


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is set by the client unless a trusted proxy rewrites it,
    # and a forged address in the audit log is worse than the proxy's.
    return request.META.get("REMOTE_ADDR") or "unknown"


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        channel = "api" if request.path.startswith("/api/") else "web"
        with client_context(client_address=client_address(request), channel=channel):
            return self.get_response(request)
