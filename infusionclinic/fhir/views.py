"""A read-only FHIR R4 REST interface at /fhir/: `metadata`, read (`{type}/{id}`) and search
(`{type}?…`, search.py) for every resource type served, and `Patient/{id}/$everything`; JSON,
paged with `next` links. Same access rules as the pages and the API (a bearer token or a
logged-in session; a patient you may not see answers 404) and the same chart sections per role
(patients.selectors.chart_sections: front desk reads demographics, weight and height only);
every read is audited. Errors, unrouted URLs included, are OperationOutcome JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.csrf import csrf_exempt

from infusionclinic.api.auth import fhir_bearer_authenticate
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import denied
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import (
    chart_sections,
    patient_get_for_user,
    patients_visible_to,
)

from . import search
from .resources import Criteria, Source, resource_types, sources_shown, validate, validate_bundle

CONTENT_TYPE = "application/fhir+json"
DEFAULT_COUNT = 50
MAX_COUNT = 200


def _json(payload: dict[str, Any], status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(payload), status=status, content_type=CONTENT_TYPE)


def operation_outcome(status: int, code: str, message: str) -> HttpResponse:
    return _json(
        validate(
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": code, "diagnostics": message}],
            }
        ),
        status=status,
    )


def fhir_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET only; a bearer token (as for /api/v1/) or a logged-in session; errors as
    OperationOutcome."""

    # No CSRF check: every view here only reads, and refuses other methods itself (405).
    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = operation_outcome(405, "not-supported", "This interface is read-only.")
            response["Allow"] = "GET"
            return response
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
        except ValueError as exc:  # search.SearchError and malformed paging
            return operation_outcome(400, "invalid", str(exc))

    return wrapper


# Bulk Data Access IG v2 and SMART App Launch: what the CapabilityStatement names (issue 22 pt 9).
BULK_EXPORT = {
    "system": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
    "Patient": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
    "Group": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
}
SMART_SERVICE = ("http://terminology.hl7.org/CodeSystem/restful-security-service", "SMART-on-FHIR")
SMART_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def _search_params(resource_type: str) -> list[dict[str, str]]:
    return [
        {"name": name, "type": kind}
        for name, kind in search.SEARCH_PARAMS.get(resource_type, {}).items()
    ]


@csrf_exempt
def metadata(request: HttpRequest) -> HttpResponse:
    """The CapabilityStatement (no token needed, as FHIR clients expect): read and search-type
    for every type served, with the search parameters search.py implements."""
    if request.method not in ("GET", "HEAD"):
        return operation_outcome(405, "not-supported", "This interface is read-only.")
    resources = []
    for t in resource_types():
        resource: dict[str, Any] = {
            "type": t,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": _search_params(t),
        }
        if t == "Patient":
            resource["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                },
                {"name": "export", "definition": BULK_EXPORT["Patient"]},
            ]
        resources.append(resource)
    return _json(
        validate(
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
                        "documentation": (
                            "Unknown search parameters are refused with 400 unless the "
                            "request sends Prefer: handling=lenient. Paging: _count (at "
                            f"most {MAX_COUNT}) and _offset."
                        ),
                        "security": {
                            "service": [
                                {
                                    "coding": [
                                        {
                                            "system": SMART_SERVICE[0],
                                            "code": SMART_SERVICE[1],
                                        }
                                    ]
                                }
                            ],
                            "extension": [
                                {
                                    "url": SMART_OAUTH_URIS,
                                    "extension": [
                                        {
                                            "url": name,
                                            "valueUri": request.build_absolute_uri(reverse(url)),
                                        }
                                        for name, url in (
                                            ("authorize", "oauth2_provider:authorize"),
                                            ("token", "oauth2_provider:token"),
                                            ("revoke", "oauth2_provider:revoke-token"),
                                        )
                                    ],
                                }
                            ],
                            "description": (
                                "Bearer token: an API token from manage.py create_api_token, or a "
                                "SMART App Launch access token (/.well-known/smart-configuration)."
                            ),
                        },
                        "resource": resources,
                        "operation": [
                            {"name": "export", "definition": BULK_EXPORT["system"]},
                        ],
                    }
                ],
            }
        )
    )


def _count_and_offset(request: HttpRequest) -> tuple[int, int]:
    try:
        count = int(request.GET.get("_count", DEFAULT_COUNT))
        offset = int(request.GET.get("_offset", 0))
    except ValueError as exc:
        raise ValueError("_count and _offset must be whole numbers.") from exc
    if not 1 <= count <= MAX_COUNT or offset < 0:
        raise ValueError(f"_count must be 1-{MAX_COUNT} and _offset 0 or more.")
    return count, offset


def _patient_id(resource: dict[str, Any]) -> int | None:
    """The patient a resource is about (for the audit), if any."""
    if resource["resourceType"] == "Patient":
        return int(resource["id"])
    references = [resource.get("subject", {}).get("reference", "")] + [
        p.get("actor", {}).get("reference", "") for p in resource.get("participant", [])
    ]
    for reference in references:
        if reference.startswith("Patient/"):
            return int(reference.removeprefix("Patient/"))
    return None


def _searchset(
    request: HttpRequest,
    parts: list[tuple[Source, QuerySet[Any]]],
    params: list[tuple[str, str]],
) -> tuple[dict[str, Any], set[int]]:
    """One page over several querysets in order, with `total` and `self`/`next`/`previous`
    links that repeat every parameter used (a repeated `date` included)."""
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
    kept = [*params, ("_count", str(count))]

    def link(relation: str, at: int) -> dict[str, str]:
        return {"relation": relation, "url": f"{base}?{urlencode([*kept, ('_offset', at)])}"}

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
    patient_ids = {pid for pid in map(_patient_id, entries) if pid is not None}
    return bundle, patient_ids


def _sources(request: HttpRequest, resource_type: str) -> list[Source]:
    """The sources of this type the user's role reads (issue 22 point 1: the chart's rule)."""
    return [
        s
        for s in sources_shown(chart_sections(user=request.user))
        if s.resource_type == resource_type
    ]


def _known_type(resource_type: str) -> None:
    if resource_type not in resource_types():
        raise Http404


@fhir_view
def resource_read(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    """`GET /fhir/{type}/{id}` for every type served; a resource the user may not see is 404
    (and a `denied` event), like one that does not exist."""
    return _read(request, resource_type, resource_id)


@fhir_view
def patient_read(request: HttpRequest, patient_id: str) -> HttpResponse:
    """`GET /fhir/Patient/{id}`: its own route, so the access matrix walks it with patient ids."""
    return _read(request, "Patient", patient_id)


def _read(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    _known_type(resource_type)
    patients = patients_visible_to(user=request.user)
    for source in _sources(request, resource_type):
        pk = source.pk_of(resource_id)
        if pk is None:
            continue
        obj = source.rows(patients, request.user).filter(pk=pk).first()
        if obj is None:
            continue
        resource = validate(source.to_resource(obj))
        patient_id = _patient_id(resource)
        audit_record(
            actor=request.user,
            action=AuditAction.VIEW,
            patient=patients.filter(pk=patient_id).first() if patient_id is not None else None,
            obj=obj,
            detail={"fhir": f"{resource_type}/{resource_id}"[:100]},
        )
        return _json(resource)
    raise denied(request.user, f"fhir.{resource_type}", resource_id)


def _patients_for(request: HttpRequest, refs: list[list[str]]) -> QuerySet[Patient]:
    """The visible patients a `patient`/`subject` search names (each OR list, ANDed); a patient
    the user may not see is 404 and a `denied` event, as in the API."""
    patients = patients_visible_to(user=request.user)
    for alternatives in refs:
        pks = [patient_get_for_user(user=request.user, patient_id=ref).pk for ref in alternatives]
        patients = patients.filter(pk__in=pks)
    return patients


@fhir_view
def resource_search(request: HttpRequest, resource_type: str) -> HttpResponse:
    """`GET /fhir/{type}?…` with the parameters search.SEARCH_PARAMS lists for the type."""
    _known_type(resource_type)
    parsed = search.parse(request, resource_type)
    patients = _patients_for(request, parsed.patient_refs)
    if resource_type == "Patient":
        patients = search.filter_patients(patients, parsed)
    parts = []
    for source in _sources(request, resource_type):
        qs = source.search(patients, parsed.criteria, request.user)
        if qs is not None:
            parts.append((source, qs))
    bundle, patient_ids = _searchset(request, parts, parsed.used)
    audit_record(
        actor=request.user,
        action=AuditAction.SEARCH,
        detail={
            "fhir": resource_type,
            "query": request.GET.urlencode()[:500],
            "patient_ids": sorted(patient_ids),
        },
    )
    return _json(bundle)


@fhir_view
def patient_everything(request: HttpRequest, patient_id: str) -> HttpResponse:
    """The patient's record, as their role reads it (paging only: other parameters are 400)."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    parsed = search.parse(request, "$everything")
    patients = patients_visible_to(user=request.user).filter(pk=patient.pk)
    parts = [
        (s, s.search(patients, Criteria(), request.user))
        for s in sources_shown(chart_sections(user=request.user))
    ]
    bundle, _ = _searchset(request, [(s, qs) for s, qs in parts if qs is not None], parsed.used)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"fhir": "$everything"},
    )
    return _json(bundle)


@csrf_exempt
def base(request: HttpRequest) -> HttpResponse:
    return operation_outcome(400, "not-supported", "This server's capabilities: GET metadata.")


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Every other URL under /fhir/: an OperationOutcome, not the site's HTML 404."""
    return operation_outcome(404, "not-found", "No such FHIR endpoint; see GET metadata.")
