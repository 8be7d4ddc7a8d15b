from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .services import seals_after_response


class AuditSealMiddleware:
    """With AUDIT_SEAL_MODE "after_commit", the request's audit events are sealed into the chain
    after its response has been sent, not before (see `audit.services.seals_after_response`).
    Outermost, so everything the request records is covered."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with seals_after_response():
            return self.get_response(request)
