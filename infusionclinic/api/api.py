"""The JSON API, /api/v1/. Handlers parse input, call one selector or service, and shape output;
access is decided in the selectors and services, exactly as for the pages."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Query, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from infusionclinic.accounts.api import router as tokens_router
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.billing.api import router as billing_router
from infusionclinic.courses.api import router as courses_router
from infusionclinic.courses.checkins_api import router as checkins_router
from infusionclinic.dosing.api import router as dosing_router
from infusionclinic.fhir.api import router as fhir_router
from infusionclinic.infusions.api import router as infusions_router
from infusionclinic.infusions.selectors import CHART_VITALS, vitals_latest_for_patient
from infusionclinic.intake.api import router as intake_router
from infusionclinic.messaging.api import router as messaging_router
from infusionclinic.outcomes.api import router as outcomes_router
from infusionclinic.patients import services as patient_services
from infusionclinic.patients.models import BodyMeasurement, Patient
from infusionclinic.patients.selectors import (
    chart_sections,
    locations_for_user,
    patient_get_for_user,
    patient_latest_measurements,
    patient_search,
)
from infusionclinic.scheduling.api import router as scheduling_router

from .auth import BearerTokenAuth
from .idempotency import idempotent
from .parser import NulRefusingParser
from .schemas import (
    ChartOut,
    ErrorOut,
    HealthOut,
    LocationOut,
    PatientIn,
    PatientOut,
    PatientPatch,
    PatientSummaryOut,
)

api = NinjaAPI(
    title="Infusion Clinic API",
    version="1",
    description="Bearer-token API. A record you may not see answers 404.",
    auth=BearerTokenAuth(),
    urls_namespace="api",
    parser=NulRefusingParser(),
)

# 400: a body that is not JSON; 413: a body over DATA_UPLOAD_MAX_MEMORY_SIZE (both found
# undocumented by the schemathesis run in tests/security/test_api_fuzz.py).
ERRORS: dict[int, Any] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
}


def _error(
    request: HttpRequest, status: int, message: str, errors: dict[str, list[str]] | None = None
) -> HttpResponse:
    return api.create_response(request, {"message": message, "errors": errors or {}}, status=status)


@api.exception_handler(NinjaValidationError)
def _invalid_input(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    for err in exc.errors:
        loc = [str(part) for part in err.get("loc", ())]
        # ("body", "payload", "birth_date") -> "birth_date"; ("query", "limit") -> "limit"
        field = ".".join(loc[2:] if loc[:1] == ["body"] else loc[1:]) or "__all__"
        errors.setdefault(field, []).append(err.get("msg", "Invalid value."))
    return _error(request, 422, "The request has invalid fields.", errors)


@api.exception_handler(DjangoValidationError)
def _refused_input(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return _error(request, 422, "The request has invalid fields.", errors)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, str(exc) or "Your role may not do this.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # e.g. a body that is not JSON (400): the same {"message", "errors"} shape as every error.
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "Send a valid token: Authorization: Bearer <token>.")


@api.exception_handler(patient_services.ConflictError)
def _conflict(request: HttpRequest, exc: patient_services.ConflictError) -> HttpResponse:
    return _error(request, 409, str(exc))


def _measurement(m: BodyMeasurement | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {"value": m.value_si, "unit": m.si_unit, "measured_on": m.measured_on}


def _summary(patient: Patient) -> dict[str, Any]:
    return {
        "id": patient.pk,
        "mrn": patient.mrn,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "preferred_name": patient.preferred_name,
        "birth_date": patient.birth_date,
        "location": patient.home_location.code,
    }


def _detail(request: HttpRequest, patient: Patient) -> dict[str, Any]:
    weight, height = patient_latest_measurements(user=request.user, patient=patient)
    provider = patient.referring_provider
    return {
        **_summary(patient),
        **{name: getattr(patient, name) for name in patient_services.DEMOGRAPHIC_FIELDS},
        "referring_provider": (
            {
                name: getattr(provider, name)
                for name in ("name", "practice", "phone", "email", "npi")
            }
            if provider
            else None
        ),
        "weight": _measurement(weight),
        "height": _measurement(height),
        "version": patient.version,
    }


@api.get("/health", response={200: HealthOut}, auth=None, tags=["health"])
def health(request: HttpRequest) -> Any:
    """Liveness: answers without a token and without touching the database. The benchmark
    (bench/run.py) measures it as the stack's floor (HTTP, middleware, django-ninja), so every
    other figure is also a ratio to it."""
    return {"status": "ok"}


@api.get("/locations", response={200: list[LocationOut], **ERRORS}, tags=["locations"])
def list_locations(request: HttpRequest) -> Any:
    """The locations the caller works at."""
    return list(locations_for_user(user=request.user))


@api.get("/patients", response={200: list[PatientSummaryOut], **ERRORS}, tags=["patients"])
def search_patients(
    request: HttpRequest,
    q: str = Query("", max_length=100, description="Name prefix, MRN or date of birth"),
    limit: int = Query(50, ge=1, le=100),
) -> Any:
    if not request.user.has_role_perm(Perm.PATIENT_SEARCH):
        raise PermissionDenied("Your role may not search patients.")
    patients = patient_search(user=request.user, query=q, limit=limit)
    audit_record(
        actor=request.user,
        action=AuditAction.SEARCH,
        detail={"q": q, "patient_ids": [p.pk for p in patients]},
    )
    return [_summary(p) for p in patients]


@api.post("/patients", response={201: PatientOut, **ERRORS}, tags=["patients"])
@idempotent
def create_patient(request: HttpRequest, payload: PatientIn) -> Any:
    # The role check comes first: a role that may not register patients (a patient user works at
    # no location) must get 403, not a 422 about the location.
    if not request.user.has_role_perm(Perm.PATIENT_CREATE):
        raise PermissionDenied("Your role may not register patients.")
    data = payload.model_dump()
    location = locations_for_user(user=request.user).filter(code=data.pop("location")).first()
    if location is None:
        raise DjangoValidationError({"location": ["Not a location you work at."]})
    weight, weight_unit = _quantity(data.pop("weight_kg"), "kg", data.pop("weight"), "weight")
    height, height_unit = _quantity(data.pop("height_cm"), "cm", data.pop("height"), "height")
    provider_data = data.pop("referring_provider")
    # The service names measurement errors "weight"/"weight_unit"; answer with the field the
    # client actually sent ("weight_kg", or "weight.value"/"weight.unit").
    sent_as = {
        f"{kind}{suffix}": (f"{kind}.{part}" if data_quantity else f"{kind}_{si}")
        for kind, si, data_quantity in (
            ("weight", "kg", payload.weight is not None),
            ("height", "cm", payload.height is not None),
        )
        for suffix, part in (("", "value"), ("_unit", "unit"))
    }
    try:
        with transaction.atomic():
            provider = (
                patient_services.referring_provider_get_or_create(
                    **provider_data, actor=request.user
                )
                if provider_data
                else None
            )
            patient = patient_services.patient_create(
                actor=request.user,
                location=location,
                weight=weight,
                weight_unit=weight_unit,
                height=height,
                height_unit=height_unit,
                referring_provider=provider,
                **data,
            )
    except DjangoValidationError as exc:
        raise DjangoValidationError(
            {sent_as.get(field, field): messages for field, messages in exc.message_dict.items()}
        ) from exc
    return Status(201, _detail(request, patient))


def _quantity(
    si_value: Any, si_unit: str, quantity: dict[str, Any] | None, field: str
) -> tuple[Any, str]:
    if si_value is not None and quantity is not None:
        raise DjangoValidationError(
            {field: [f"Send either {field}_{si_unit} or {field} with a unit, not both."]}
        )
    if quantity is not None:
        return quantity["value"], quantity["unit"]
    return si_value, si_unit


@api.get("/patients/{patient_id}", response={200: PatientOut, **ERRORS}, tags=["patients"])
def get_patient(request: HttpRequest, patient_id: str) -> Any:
    # patient_id is taken as text: a malformed id is a 404 (and a `denied` event) from the
    # selector, like any id the caller may not see, not a 422 that tells ids apart.
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    audit_record(actor=request.user, action=AuditAction.VIEW, patient=patient, obj=patient)
    return _detail(request, patient)


@api.get("/patients/{patient_id}/chart", response={200: ChartOut, **ERRORS}, tags=["patients"])
def get_patient_chart(request: HttpRequest, patient_id: str) -> Any:
    """The patient (as GET /patients/{patient_id}) and their latest 20 vitals sets, newest first,
    in a fixed number of queries whatever the history size. One `view` event records the read,
    with the ids of the vitals sets shown."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    vitals = (
        vitals_latest_for_patient(patient=patient, limit=CHART_VITALS)
        if chart_sections(user=request.user).clinical
        else None
    )
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"vital_ids": [v.pk for v in vitals]} if vitals else {},
    )
    return {"patient": _detail(request, patient), "vitals": vitals}


@api.patch(
    "/patients/{patient_id}",
    response={200: PatientOut, 409: ErrorOut, **ERRORS},
    tags=["patients"],
)
def update_patient(request: HttpRequest, patient_id: str, payload: PatientPatch) -> Any:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    changes = payload.model_dump(exclude_unset=True)
    version = changes.pop("version")
    patient = patient_services.patient_update(
        actor=request.user, patient=patient, expected_version=version, changes=changes
    )
    return _detail(request, patient)


api.add_router("", fhir_router)
api.add_router("", outcomes_router)
api.add_router("", dosing_router)
api.add_router("", courses_router)
api.add_router("", intake_router)
api.add_router("", scheduling_router)
api.add_router("", billing_router)
api.add_router("", infusions_router)
api.add_router("", tokens_router)
api.add_router("", checkins_router)
api.add_router("", messaging_router)


def _document_error_answers() -> None:
    """Every operation can answer the errors the handlers above produce (a body that is not
    JSON, no token, a role refusal, a record you may not see, a body too large, invalid fields):
    declare them on each, so the OpenAPI schema tells the truth whatever router added the route.
    An operation with one non-200 success code keeps that code as its default answer."""
    for router in (api.default_router, *(r for _, r in api._routers)):
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                models = operation.response_models
                if len(models) == 1 and next(iter(models)) != 200:
                    continue
                for code, schema in ERRORS.items():
                    if code not in models:
                        models[code] = operation._create_response_model(schema)


_document_error_answers()
