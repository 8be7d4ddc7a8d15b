import json
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from .context import client_context
from .dbrouter import own_writes_visible, replica_configured


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is set by the client unless a trusted proxy rewrites it,
    # and a forged address in the audit log is worse than the proxy's.
    return request.META.get("REMOTE_ADDR") or "unknown"


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        channel = "api" if request.path.startswith(("/api/", "/fhir/")) else "web"
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
        api = request.path.startswith(("/api/", "/fhir/"))
        if api or (user is not None and user.is_authenticated):
            patch_cache_control(response, no_store=True, private=True, max_age=0)
        return response


class RequestBodyLimitMiddleware:
    """Refuse a request whose declared body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE with 413, before
    any session, authentication or view runs, on every route alike (issue 11: every form and
    endpoint rejects oversized bodies). Django's own check of the same setting, when a view reads
    the body, stays as the second line (a 400)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if (
            limit is not None
            and request.content_type == "multipart/form-data"
            and request.path.startswith(tuple(settings.MESSAGING_UPLOAD_PATH_PREFIXES))
        ):
            # Issue 18 section 3: a message attachment (up to MESSAGING_ATTACHMENT_MAX_BYTES,
            # checked again by the messaging app) on top of the form's own fields.
            limit += settings.MESSAGING_ATTACHMENT_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if limit is not None and declared > limit:
            message = (
                f"The request body is larger than the {limit // 1024} KiB this server accepts."
            )
            if request.path.startswith("/api/"):
                return HttpResponse(
                    json.dumps({"message": message, "errors": {}}),
                    status=413,
                    content_type="application/json",
                )
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class NulCharacterMiddleware:
    """Refuse (400) a query string or form field carrying a NUL character: PostgreSQL text cannot
    hold one, and a search with it would fail deep in a query as a 500. (JSON bodies of the API
    are checked by its parser, api/parser.py.)"""

    FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        values = [v for _, vs in request.GET.lists() for v in vs]
        if request.method == "POST" and request.content_type in self.FORM_TYPES:
            values += [v for _, vs in request.POST.lists() for v in vs]
        if any("\x00" in v for v in values):
            message = "NUL characters are not allowed in a form or a link."
            if request.path.startswith("/api/"):
                return HttpResponse(
                    json.dumps({"message": message, "errors": {}}),
                    status=400,
                    content_type="application/json",
                )
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class ReadYourWritesMiddleware:
    """Read-your-writes with a read replica (issue 20 section 1): after a user's POST, PUT, PATCH
    or DELETE, that user's lag-tolerant reads go to the primary for
    REPLICA_READ_YOUR_WRITES_SECONDS (the request itself included), so a figure or export never
    misses the write the user has just made. The marker is a cookie holding the time until which
    it holds: it follows the user to whichever node the balancer picks. A forged or stale value
    can only send reads to the primary. Without a replica this does nothing."""

    COOKIE = "ic_rw"
    UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_configured():
            return self.get_response(request)
        window = settings.REPLICA_READ_YOUR_WRITES_SECONDS
        now = time.time()
        try:
            until = float(request.COOKIES.get(self.COOKIE, "0"))
        except ValueError:
            until = 0.0
        unsafe = request.method in self.UNSAFE
        if unsafe or now < min(until, now + window):
            with own_writes_visible():
                response = self.get_response(request)
        else:
            response = self.get_response(request)
        user = getattr(request, "user", None)
        if unsafe and user is not None and user.is_authenticated and window > 0:
            response.set_cookie(
                self.COOKIE,
                f"{now + window:.3f}",
                max_age=int(window) + 1,
                secure=request.is_secure(),
                httponly=True,
                samesite="Lax",
            )
        return response
