"""The Bulk Data `$export` routes (Bulk Data Access IG v2): kick-off at `/fhir/$export`,
`/fhir/Patient/$export` and `/fhir/Group/<location id>/$export`; the status URL
`/fhir/bulk/<job id>` (GET polls, DELETE cancels); the files `/fhir/bulk/<job id>/<Type>.ndjson`.
The same bearer tokens as the rest of /fhir/ (API tokens, SMART tokens with `user/*.rs`) or a
logged-in session; errors as OperationOutcome. The work is in `bulk.py`."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from infusionclinic.api.auth import fhir_bearer_authenticate

from . import bulk
from .models import BulkExportFile, ExportLevel, ExportStatus

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
ACCEPTED = ("", FHIR_JSON, "application/json", "*/*")
RETRY_AFTER_SECONDS = "10"


def _outcome(status: int, code: str, message: str, severity: str = "error") -> HttpResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": message}],
    }
    return HttpResponse(json.dumps(body), status=status, content_type=FHIR_JSON)


View = Callable[..., HttpResponse]


def bulk_view(*methods: str) -> Callable[[View], View]:
    """The methods allowed; a bearer token or a logged-in session (CSRF-checked for DELETE);
    404, 403 and 400 as OperationOutcome."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = _outcome(405, "not-supported", f"Use {' or '.join(methods)}.")
                response["Allow"] = ", ".join(methods)
                return response
            header = request.headers.get("Authorization", "")
            try:
                if header.startswith("Bearer "):
                    user = fhir_bearer_authenticate(request, header.removeprefix("Bearer ").strip())
                    if user is None:
                        return _outcome(401, "login", "The bearer token is not valid.")
                    request.user = user
                elif not request.user.is_authenticated:
                    return _outcome(401, "login", "Send Authorization: Bearer <token>.")
                elif request.method != "GET":
                    rejected = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(
                        request, None, (), {}
                    )
                    if rejected is not None:
                        return _outcome(403, "forbidden", "CSRF check failed.")
                return view(request, *args, **kwargs)
            except PermissionDenied as exc:
                return _outcome(403, "forbidden", str(exc) or "Not allowed.")
            except Http404 as exc:
                return _outcome(404, "not-found", str(exc) or "No such resource.")
            except bulk.BulkRequestError as exc:
                return _outcome(400, "invalid", str(exc))

        return wrapper

    return decorate


def _kickoff(request: HttpRequest, level: ExportLevel, group_id: str | None = None) -> HttpResponse:
    accept = request.headers.get("Accept", "").split(";")[0].strip()
    if accept not in ACCEPTED:
        raise bulk.BulkRequestError(f"Accept must be {FHIR_JSON}.")
    prefer = [p.strip() for p in request.headers.get("Prefer", "").split(",")]
    if "respond-async" not in prefer:
        raise bulk.BulkRequestError("$export is asynchronous: send Prefer: respond-async.")
    location = (
        bulk.group_location_get_for_user(user=request.user, group_id=group_id)
        if group_id is not None
        else None
    )
    kickoff = bulk.kickoff_parse(dict(request.GET.lists()), lenient="handling=lenient" in prefer)
    job = bulk.bulk_export_start(
        actor=request.user,
        level=level,
        location=location,
        kickoff=kickoff,
        request_url=request.build_absolute_uri(),
    )
    response = _outcome(202, "informational", "The export was queued.", severity="information")
    response["Content-Location"] = request.build_absolute_uri(
        reverse("fhir_bulk:status", args=[job.pk])
    )
    return response


@bulk_view("GET")
def system_export(request: HttpRequest) -> HttpResponse:
    """All resources of every patient the user may export (every type here is about a patient)."""
    return _kickoff(request, ExportLevel.SYSTEM)


@bulk_view("GET")
def patient_export(request: HttpRequest) -> HttpResponse:
    return _kickoff(request, ExportLevel.PATIENT)


@bulk_view("GET")
def group_export(request: HttpRequest, group_id: str) -> HttpResponse:
    return _kickoff(request, ExportLevel.GROUP, group_id)


@bulk_view("GET", "DELETE")
def status(request: HttpRequest, job_id: str) -> HttpResponse:
    job = bulk.bulk_job_get_for_user(user=request.user, job_id=job_id)
    if request.method == "DELETE":
        bulk.bulk_export_delete(actor=request.user, job=job)
        return _outcome(202, "informational", "The export was deleted.", severity="information")
    if job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING):
        response = HttpResponse(status=202)
        response["X-Progress"] = job.progress or job.get_status_display()
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response
    if job.status == ExportStatus.FAILED:
        return _outcome(500, "exception", f"The export failed: {job.error}")
    if job.status in (ExportStatus.CANCELLED, ExportStatus.EXPIRED):
        raise Http404("This export was cancelled, deleted or has expired.")

    def file_url(file: BulkExportFile) -> str:
        return request.build_absolute_uri(
            reverse("fhir_bulk:file", args=[job.pk, file.resource_type])
        )

    return HttpResponse(
        json.dumps(bulk.manifest(job, file_url=file_url)), content_type="application/json"
    )


@bulk_view("GET")
def file(request: HttpRequest, job_id: str, resource_type: str) -> HttpResponse:
    export_file = bulk.bulk_file_get_for_user(
        user=request.user, job_id=job_id, resource_type=resource_type
    )
    return FileResponse(
        bulk.bulk_file_open(user=request.user, file=export_file), content_type=NDJSON
    )
