"""Idempotency keys for POST endpoints that monitors and integrations call (issue 11).

A client that may retry (a pump monitor on a flaky network, an integration's job queue) sends
`Idempotency-Key: <unique string>` with the POST. The first request with that key runs normally;
a retry with the same key and the same body (byte for byte) gets the stored answer back (status
and body, with `Idempotent-Replayed: true`) without the handler running again; the same key with
a different body answers 422 and changes nothing. Keys are per user and per endpoint (method and
path) and expire after IDEMPOTENCY_KEY_TTL_HOURS (24 by default). Only a success (2xx) is stored:
a refused request (4xx) saved nothing, so its key is released and the corrected request may reuse
it. A replay is not a new read and writes no audit event: it repeats, to the same user, the answer
whose request was audited.

Use it on any django-ninja POST operation, under the route decorator:

    @router.post("/infusions/{infusion_id}/vitals", response={201: VitalsOut, **ERRORS})
    @idempotent
    def record_vitals(request, infusion_id: str, payload: VitalsIn): ...

Concurrency: the key row is inserted first, in the same transaction as the handler's writes, and
a unique constraint covers (user, endpoint, key). A concurrent retry's insert waits for the first
transaction (PostgreSQL: the unique index; SQLite: the write lock taken at BEGIN IMMEDIATE); if
that commits, the retry replays its answer; if it rolls back, the retry runs as a first attempt.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from ninja.decorators import decorate_view
from ninja.operation import Operation
from ninja.utils import contribute_operation_callback

from infusionclinic.ops.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII: UUIDs, ULIDs, job ids
_ROW = "_idempotency_row"

OPENAPI_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "description": (
        "Optional. A unique string (1-255 visible ASCII characters, e.g. a UUID) per logical "
        "request. A retry with the same key and body replays the first answer without creating "
        "anything again; the same key with another body answers 422. Keys expire after 24 hours."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[!-~]+$"},
}


def _ttl() -> timedelta:
    return timedelta(hours=getattr(settings, "IDEMPOTENCY_KEY_TTL_HOURS", 24))


def _error(status: int, message: str, field: str) -> JsonResponse:
    # The API's error shape (api.api ErrorOut): a message and per-field errors.
    return JsonResponse({"message": message, "errors": {field: [message]}}, status=status)


def _replay(row: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(
        bytes(row.response_body),
        status=row.response_status,
        content_type=row.response_content_type or "application/json",
    )
    response[REPLAYED_HEADER] = "true"
    return response


# Expired rows are purged at most this often per process: a monitor posting several readings a
# second must not pay for a DELETE scan each time. A retry that meets its own expired key does not
# wait for the purge (see _claim).
_PURGE_EVERY_S = 60.0
_last_purge = [float("-inf")]


def _purge_expired(now: datetime) -> None:
    tick = time.monotonic()
    if tick - _last_purge[0] < _PURGE_EVERY_S:
        return
    _last_purge[0] = tick
    IdempotencyKey.objects.filter(expires_at__lte=now).delete()


def _claim(request: HttpRequest, key: str) -> HttpResponse | None:
    """Insert the key row, or answer from the stored one. Runs after authentication."""
    now = timezone.now()
    endpoint = f"{request.method} {request.path}"[:300]
    body_sha256 = hashlib.sha256(request.body).hexdigest()
    _purge_expired(now)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    user=request.user,
                    endpoint=endpoint,
                    key=key,
                    request_sha256=body_sha256,
                    created_at=now,
                    expires_at=now + _ttl(),
                )
        except IntegrityError:
            stored = IdempotencyKey.objects.get(user=request.user, endpoint=endpoint, key=key)
            if stored.expires_at <= now:
                # Expired: the key (and the answer it holds) is gone; run as a first attempt.
                IdempotencyKey.objects.filter(pk=stored.pk, expires_at__lte=now).delete()
                continue
            if stored.request_sha256 != body_sha256:
                return _error(
                    422,
                    f"This {HEADER} was already used with a different request body. "
                    "Send a new key for a new request.",
                    HEADER,
                )
            return _replay(stored)
        setattr(request, _ROW, row)
        return None
    return _error(409, f"This {HEADER} is being reused concurrently; retry.", HEADER)


def _run_in_transaction(run: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Wraps the whole operation (authentication, handler, serialisation) so the key row, the
    handler's writes and the stored answer commit together."""

    @functools.wraps(run)
    def wrapped(request: HttpRequest, **kw: Any) -> HttpResponseBase:
        if HEADER not in request.headers:
            return run(request, **kw)
        with transaction.atomic():
            response = run(request, **kw)
            row: IdempotencyKey | None = getattr(request, _ROW, None)
            if row is not None:
                if 200 <= response.status_code < 300 and isinstance(response, HttpResponse):
                    row.response_status = response.status_code
                    row.response_body = response.content
                    row.response_content_type = response.get("Content-Type", "")
                    row.save(
                        update_fields=[
                            "response_status",
                            "response_body",
                            "response_content_type",
                        ]
                    )
                else:
                    row.delete()  # nothing was created: the key may be used again
        return response

    return wrapped


def _document(operation: Operation) -> None:
    extra = dict(operation.openapi_extra or {})
    extra["parameters"] = [*extra.get("parameters", []), OPENAPI_PARAMETER]
    operation.openapi_extra = extra


def idempotent(func: Callable[..., Any]) -> Callable[..., Any]:
    """Make a django-ninja POST operation honour `Idempotency-Key` (see the module docstring)."""

    @functools.wraps(func)
    def handler(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return func(request, *args, **kwargs)
        if not _KEY_SHAPE.fullmatch(key):
            return _error(422, f"{HEADER} must be 1-255 visible ASCII characters.", HEADER)
        answered = _claim(request, key)
        if answered is not None:
            return answered
        return func(request, *args, **kwargs)

    contribute_operation_callback(handler, _document)
    # decorate_view (not a bare `operation.run = ...`): ninja re-applies it when a router's
    # operations are cloned onto the API.
    return decorate_view(_run_in_transaction)(handler)
