"""API for intake and screening: GET/PUT /patients/{patient_id}/intake and
POST /patients/{patient_id}/screening. Registered on the project API (api/api.py), whose
exception handlers answer 404, 403, 409 and 422 with field errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import ConfigDict, Field, StrictBool

from infusionclinic.accounts.roles import Perm
from infusionclinic.api.fields import EdgeDecimal, EdgeInt
from infusionclinic.api.schemas import ErrorOut
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients.selectors import patient_get_for_user

from . import services
from .models import Intake
from .selectors import screening_latest

router = Router(tags=["intake"])
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class _IntakeFields(Schema):
    medical_history: str | None = Field(None, max_length=10000)
    current_medications: str | None = Field(None, max_length=10000)
    allergies: str | None = Field(None, max_length=5000)
    substance_use: str | None = Field(None, max_length=5000)
    psychiatric_history: str | None = Field(None, max_length=10000)
    cardiovascular_history: str | None = Field(None, max_length=5000)
    suicide_attempts: StrictBool | None = None
    ketamine_hypersensitivity: StrictBool | None = Field(None, description="ELIG-A1")
    aneurysm_avm_or_brain_bleed: StrictBool | None = Field(None, description="ELIG-A2")
    uncontrolled_hypertension: StrictBool | None = Field(None, description="ELIG-A3")
    unstable_heart_disease: StrictBool | None = Field(None, description="ELIG-A4")
    current_psychosis: StrictBool | None = Field(None, description="ELIG-A5")
    current_mania: StrictBool | None = Field(None, description="ELIG-A6")
    pregnant: StrictBool | None = Field(None, description="ELIG-A7")
    hepatic_disease: str | None = Field(
        None, description="none, moderate or severe (ELIG-A8, ELIG-B5); empty = not answered"
    )
    takes_theophylline: StrictBool | None = Field(None, description="ELIG-A9")
    substance_use_active: StrictBool | None = Field(None, description="ELIG-B1")
    substance_use_history: StrictBool | None = Field(None, description="ELIG-B2")
    psychosis_history: StrictBool | None = Field(None, description="ELIG-B3")
    bipolar_disorder: StrictBool | None = Field(None, description="ELIG-B4")
    alcohol_misuse_or_hepatitis: StrictBool | None = Field(None, description="ELIG-B5")
    raised_eye_or_brain_pressure: StrictBool | None = Field(None, description="ELIG-B6")
    urinary_symptoms: StrictBool | None = Field(None, description="ELIG-B7")
    breastfeeding: StrictBool | None = Field(None, description="ELIG-B8")
    takes_cns_depressants: StrictBool | None = Field(None, description="ELIG-C1")
    takes_stimulants_or_maoi: StrictBool | None = Field(None, description="ELIG-C2")
    # Plausibility is the service's (PATIENT_WEIGHT_*, ...); here only finite, bounded values.
    weight_kg: EdgeDecimal | None = None
    height_cm: EdgeDecimal | None = None
    baseline_systolic_mmhg: EdgeInt | None = None
    baseline_diastolic_mmhg: EdgeInt | None = None
    emergency_contact_name: str | None = Field(None, max_length=200)
    emergency_contact_phone: str | None = Field(None, max_length=32)
    escort_name: str | None = Field(None, max_length=200)
    escort_phone: str | None = Field(None, max_length=32)


TEXT_FIELDS = set(services.TEXT_FIELDS) | set(services.CHOICE_FIELDS)


class IntakeIn(_IntakeFields):
    """Fields left out are not changed; null clears an answer (text fields: empty)."""

    model_config = ConfigDict(extra="forbid")
    submit: bool = Field(False, description="Submit and lock the intake after saving")
    amendment_reason: str | None = Field(
        None,
        max_length=2000,
        description="Required to change a submitted intake (staff only); the change is audited",
    )


class IntakeOut(_IntakeFields):
    patient_id: int
    status: str
    submitted_at: datetime | None


class FindingOut(Schema):
    rule_id: str
    severity: str
    message: str
    evidence: str
    reviewed: bool


class ScreeningOut(Schema):
    status: str = Field(description="eligible, needs_review or ineligible")
    findings: list[FindingOut]
    resistance_count: int = Field(description="Adequate failed antidepressant trials (PROT-2)")
    screened_at: datetime


def _intake_out(intake: Intake) -> dict[str, Any]:
    return {
        "patient_id": intake.patient_id,
        "status": intake.status,
        "submitted_at": intake.submitted_at,
        **{name: getattr(intake, name) for name in services.INTAKE_FIELDS},
    }


@router.get("/patients/{patient_id}/intake", response={200: IntakeOut, **ERRORS})
def get_intake(request: HttpRequest, patient_id: str) -> Any:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    if not request.user.has_role_perm(Perm.CHART_VIEW_CLINICAL):
        raise PermissionDenied("Your role may not read intakes.")
    intake = Intake.objects.filter(patient=patient).first() or Intake(patient=patient)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"page": "intake"},
    )
    return _intake_out(intake)


@router.put("/patients/{patient_id}/intake", response={200: IntakeOut, 409: ErrorOut, **ERRORS})
def put_intake(request: HttpRequest, patient_id: str, payload: IntakeIn) -> Any:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    values = payload.model_dump(exclude_unset=True)
    submit = values.pop("submit", False)
    reason = values.pop("amendment_reason", None)
    # null on a text field means "empty": the model stores text as "", never NULL.
    values = {k: ("" if v is None and k in TEXT_FIELDS else v) for k, v in values.items()}
    intake = Intake.objects.filter(patient=patient).first()
    if intake is not None and intake.is_locked and reason is not None:
        services.intake_amend(actor=request.user, patient=patient, values=values, reason=reason)
    else:
        services.intake_save(actor=request.user, patient=patient, values=values, submit=submit)
    return _intake_out(Intake.objects.get(patient=patient))


@router.post("/patients/{patient_id}/screening", response={200: ScreeningOut, **ERRORS})
def run_screening(request: HttpRequest, patient_id: str) -> Any:
    """Run every screening rule on the stored intake and chart; answer the result with the
    prescribers' reviews applied."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    services.screening_run(actor=request.user, patient=patient, trigger="api")
    view = screening_latest(patient=patient)
    assert view is not None  # noqa: S101 - just stored
    return {
        "status": view.status,
        "findings": [
            {
                "rule_id": f.finding.rule_id,
                "severity": f.finding.severity,
                "message": f.finding.message,
                "evidence": f.finding.evidence,
                "reviewed": f.review is not None,
            }
            for f in view.findings
        ],
        "resistance_count": view.screening.resistance_count,
        "screened_at": view.screening.ran_at,
    }
