from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

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


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every answer to a logged-in user and every API answer: pages
    and JSON holding patient data must not stay in browser or proxy caches (HIPAA 164.312,
    ASVS 8.2.1). Public pages for anonymous visitors keep their own caching."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if request.path.startswith("/api/") or (user is not None and user.is_authenticated):
            patch_cache_control(response, no_store=True, private=True, max_age=0)
        return response
