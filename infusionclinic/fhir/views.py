"""A read-only FHIR R4 REST interface at /fhir/: `metadata`, `Patient/{id}`,
`Observation?patient=&code=&date=` and `Patient/{id}/$everything`, JSON, paged with `next` links.
Same access rules as the pages and the API (a bearer token or a logged-in session; a patient
you may not see answers 404); every read is audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from infusionclinic.api.auth import fhir_bearer_authenticate
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients.selectors import patient_get_for_user, patients_visible_to

from .resources import SOURCES, Source, resource_types, validate, validate_bundle

CONTENT_TYPE = "application/fhir+json"
DEFAULT_COUNT = 50
MAX_COUNT = 200


def _json(payload: dict[str, Any], status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(payload), status=status, content_type=CONTENT_TYPE)


def operation_outcome(status: int, code: str, message: str) -> HttpResponse:
    return _json(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": message}],
        },
        status=status,
    )


def fhir_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET only; a bearer token (as for /api/v1/) or a logged-in session; errors as
    OperationOutcome."""

    @require_GET
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            try:
                user = fhir_bearer_authenticate(request, header.removeprefix("Bearer ").strip())
            except PermissionDenied as exc:
                return operation_outcome(403, "forbidden", str(exc))
            if user is None:
                return operation_outcome(401, "login", "The bearer token is not valid.")
            request.user = user
        elif not request.user.is_authenticated:
            return operation_outcome(401, "login", "Send Authorization: Bearer <token>.")
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return operation_outcome(404, "not-found", "No such resource.")
        except ValueError as exc:
            return operation_outcome(400, "invalid", str(exc))

    return wrapper


@require_GET
def metadata(request: HttpRequest) -> HttpResponse:
    """The CapabilityStatement (no token needed, as FHIR clients expect)."""
    types = resource_types()
    return _json(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": timezone.now().date().isoformat(),
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "software": {"name": "Infusion Clinic"},
            "implementation": {
                "description": "Infusion Clinic read-only FHIR R4 interface",
                "url": request.build_absolute_uri(reverse("fhir:base")),
            },
            "rest": [
                {
                    "mode": "server",
                    "security": {"description": "Bearer token from manage.py create_api_token"},
                    "resource": [
                        {
                            "type": t,
                            "interaction": [{"code": "read"}]
                            + ([{"code": "search-type"}] if t == "Observation" else []),
                            **(
                                {
                                    "searchParam": [
                                        {"name": "patient", "type": "reference"},
                                        {"name": "code", "type": "token"},
                                        {"name": "date", "type": "date"},
                                    ]
                                }
                                if t == "Observation"
                                else {}
                            ),
                            **(
                                {
                                    "operation": [
                                        {
                                            "name": "everything",
                                            "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                                        }
                                    ]
                                }
                                if t == "Patient"
                                else {}
                            ),
                        }
                        for t in types
                    ],
                }
            ],
        }
    )


@fhir_view
def patient_read(request: HttpRequest, patient_id: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"fhir": "Patient"},
    )
    source = next(s for s in SOURCES if s.resource_type == "Patient")
    return _json(validate(source.to_resource(patient)))


def _count_and_offset(request: HttpRequest) -> tuple[int, int]:
    try:
        count = int(request.GET.get("_count", DEFAULT_COUNT))
        offset = int(request.GET.get("_offset", 0))
    except ValueError as exc:
        raise ValueError("_count and _offset must be whole numbers.") from exc
    if not 1 <= count <= MAX_COUNT or offset < 0:
        raise ValueError(f"_count must be 1-{MAX_COUNT} and _offset 0 or more.")
    return count, offset


def _searchset(
    request: HttpRequest, parts: list[tuple[Source, QuerySet[Any]]]
) -> tuple[dict[str, Any], set[int]]:
    """One page over several querysets in order, with `total` and `next`/`previous` links."""
    count, offset = _count_and_offset(request)
    totals = [qs.count() for _, qs in parts]
    entries: list[dict[str, Any]] = []
    skip, need = offset, count
    for (source, qs), total in zip(parts, totals, strict=True):
        if need == 0:
            break
        if skip >= total:
            skip -= total
            continue
        for obj in qs[skip : skip + need]:
            entries.append(source.to_resource(obj))
        need = count - len(entries)
        skip = 0
    grand_total = sum(totals)
    base = request.build_absolute_uri(request.path)
    params = {k: v for k, v in request.GET.items() if k not in ("_offset",)}

    def link(relation: str, at: int) -> dict[str, str]:
        return {"relation": relation, "url": f"{base}?{urlencode({**params, '_offset': at})}"}

    links = [link("self", offset)]
    if offset + count < grand_total:
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(0, offset - count)))
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": grand_total,
        "link": links,
        "entry": [
            {
                "fullUrl": request.build_absolute_uri(
                    f"{reverse('fhir:base')}{r['resourceType']}/{r['id']}"
                ),
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in entries
        ],
    }
    validate_bundle(bundle)
    patient_ids = {
        int(r["id"]) if r["resourceType"] == "Patient" else int(r["subject"]["reference"][8:])
        for r in entries
    }
    return bundle, patient_ids


def _date_bounds(values: list[str]) -> tuple[date | None, date | None]:
    """FHIR date search: `date=2026-01-01` (that day), `ge…`, `le…`, `gt…`, `lt…`; repeatable."""
    low: date | None = None
    high: date | None = None
    for raw in values:
        prefix, text = (raw[:2], raw[2:]) if raw[:2].isalpha() else ("eq", raw)
        try:
            day = date.fromisoformat(text[:10])
        except ValueError as exc:
            raise ValueError(
                f"date must be YYYY-MM-DD with an optional prefix, not {raw!r}."
            ) from exc
        if prefix in ("eq", "ge", "gt"):
            low = day if prefix != "gt" else date.fromordinal(day.toordinal() + 1)
        if prefix in ("eq", "le", "lt"):
            high = day if prefix != "lt" else date.fromordinal(day.toordinal() - 1)
        if prefix not in ("eq", "ge", "gt", "le", "lt"):
            raise ValueError(f"Unsupported date prefix {prefix!r}.")
    return low, high


@fhir_view
def observation_search(request: HttpRequest) -> HttpResponse:
    patient_param = request.GET.get("patient", "").removeprefix("Patient/")
    if patient_param:
        patient = patient_get_for_user(user=request.user, patient_id=patient_param)
        patients = patients_visible_to(user=request.user).filter(pk=patient.pk)
    else:
        patients = patients_visible_to(user=request.user)
    code = request.GET.get("code", "")
    if "|" in code:
        system, code = code.split("|", 1)
        if system and system != "http://loinc.org":
            code = "unknown-system"
    date_from, date_to = _date_bounds(request.GET.getlist("date"))
    parts = []
    for source in SOURCES:
        if source.resource_type != "Observation":
            continue
        qs = source.search(patients, code=code or None, date_from=date_from, date_to=date_to)
        if qs is not None:
            parts.append((source, qs))
    bundle, patient_ids = _searchset(request, parts)
    audit_record(
        actor=request.user,
        action=AuditAction.SEARCH,
        detail={
            "fhir": "Observation",
            "query": request.GET.urlencode()[:500],
            "patient_ids": sorted(patient_ids),
        },
    )
    return _json(bundle)


@fhir_view
def patient_everything(request: HttpRequest, patient_id: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    patients = patients_visible_to(user=request.user).filter(pk=patient.pk)
    bundle, _ = _searchset(request, [(s, s.queryset(patients)) for s in SOURCES])
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"fhir": "$everything"},
    )
    return _json(bundle)


@require_GET
def base(request: HttpRequest) -> HttpResponse:
    return operation_outcome(400, "not-supported", "This server's capabilities: GET metadata.")
