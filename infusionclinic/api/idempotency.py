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
from django.db import transaction
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


_INSERT_COLUMNS = (
    "user_id",
    "key",
    "endpoint",
    "request_sha256",
    "response_status",
    "response_body",
    "response_content_type",
    "created_at",
    "expires_at",
)


def _insert_unless_taken(row: IdempotencyKey) -> bool:
    """Insert the key row, or nothing if the unique constraint already holds it (False).

    One statement, `INSERT … ON CONFLICT DO NOTHING RETURNING id` (PostgreSQL; SQLite 3.35+),
    instead of an insert in a savepoint that catches the IntegrityError: two round trips and an
    ORM compilation fewer on every monitored reading (issue 20 §3). The concurrency is the same:
    a concurrent insert of the same key waits for the first transaction, then inserts (it rolled
    back) or does nothing (it committed)."""
    connection = transaction.get_connection()
    meta = IdempotencyKey._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _INSERT_COLUMNS)
    values = [
        row.user_id,
        row.key,
        row.endpoint,
        row.request_sha256,
        row.response_status,  # the model's defaults: the answer is stored before commit
        bytes(row.response_body),
        row.response_content_type,
        connection.ops.adapt_datetimefield_value(row.created_at),
        connection.ops.adapt_datetimefield_value(row.expires_at),
    ]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608 - names from the model
        f"VALUES ({', '.join(['%s'] * len(values))}) ON CONFLICT DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        inserted = cursor.fetchone()
    if inserted is None:
        return False
    row.pk = inserted[0]
    row._state.adding, row._state.db = False, connection.alias
    return True


def _store_answer(row: IdempotencyKey, response: HttpResponse) -> None:
    """The answer a retry replays, written into the key row (plain SQL: on every reading)."""
    connection = transaction.get_connection()
    meta = IdempotencyKey._meta
    quote = connection.ops.quote_name
    assignments = ", ".join(
        f"{quote(meta.get_field(name).column)} = %s"
        for name in ("response_status", "response_body", "response_content_type")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608 - model names
            f"WHERE {quote(meta.pk.column)} = %s",
            [
                response.status_code,
                bytes(response.content),
                response.get("Content-Type", "")[:100],
                row.pk,
            ],
        )


def _claim(request: HttpRequest, key: str) -> HttpResponse | None:
    """Insert the key row, or answer from the stored one. Runs after authentication."""
    now = timezone.now()
    endpoint = f"{request.method} {request.path}"[:300]
    body_sha256 = hashlib.sha256(request.body).hexdigest()
    _purge_expired(now)
    for _attempt in range(2):
        row = IdempotencyKey(
            user=request.user,
            endpoint=endpoint,
            key=key,
            request_sha256=body_sha256,
            created_at=now,
            expires_at=now + _ttl(),
        )
        if not _insert_unless_taken(row):
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
                    _store_answer(row, response)
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
