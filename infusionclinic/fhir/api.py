from typing import Any

from django.http import HttpRequest
from ninja import Router

from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients.selectors import (
    chart_sections,
    patient_get_for_user,
    patients_visible_to,
)

from .resources import collection_bundle, resources_for, validate_bundle

router = Router(tags=["fhir"])


@router.get("/patients/{patient_id}/fhir", response=dict[str, Any])
def patient_fhir_bundle(request: HttpRequest, patient_id: str) -> Any:
    """The patient's record as a FHIR R4 Bundle (type collection), as the caller's role reads the
    chart (front desk: demographics, weight and height); each resource validated."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    patients = patients_visible_to(user=request.user).filter(pk=patient.pk)
    resources = resources_for(
        patients, stream=False, sections=chart_sections(user=request.user), user=request.user
    )
    bundle = validate_bundle(collection_bundle(list(resources)))
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        patient=patient,
        obj=patient,
        detail={"fhir": "Bundle"},
    )
    return bundle
