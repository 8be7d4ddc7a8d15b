"""JSON API for rating scales: POST/GET /api/v1/patients/{patient_id}/assessments (issue 5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from infusionclinic.accounts.roles import Perm
from infusionclinic.api.fields import EdgeDateTime
from infusionclinic.api.schemas import ErrorOut
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients.selectors import patient_get_for_user

from . import selectors, services

router = Router(tags=["assessments"])
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class AssessmentIn(Schema):
    instrument: str = Field(max_length=32, description='Instrument code, e.g. "PHQ-9"')
    # Checked item by item by the scoring engine, so a refusal names the item ("answers.9").
    answers: list[Any] = Field(max_length=200, description="One integer per item, in order")
    completed_at: EdgeDateTime | None = Field(
        None, description="ISO-8601 with an offset; defaults to now"
    )


class AlertOut(Schema):
    rule_id: str
    level: str
    message: str


class AssessmentOut(Schema):
    id: int
    instrument: str
    version: int
    total: int
    severity: str | None
    completed_at: datetime
    answers: list[int]
    administration: str
    alerts: list[AlertOut]
    change_from_baseline: int = Field(description="baseline total - this total (SCALE-2)")
    percent_change: float | None = Field(description="(baseline - current) / baseline x 100")
    response: bool | None = Field(description="null for the baseline itself or no rule")
    remission: bool | None = Field(description="null where the instrument defines none")
    baseline_id: int


def _out(item: selectors.ScoredAssessment) -> dict[str, Any]:
    a = item.assessment
    return {
        "id": a.pk,
        "instrument": a.instrument.code,
        "version": a.instrument.version,
        "total": a.total,
        "severity": a.severity or None,
        "completed_at": a.completed_at,
        "answers": a.answers,
        "administration": a.administration,
        "alerts": [
            {"rule_id": x.rule_id, "level": x.level, "message": x.message} for x in item.alerts
        ],
        "change_from_baseline": item.outcome.change_from_baseline,
        "percent_change": item.outcome.percent_change,
        "response": item.outcome.response,
        "remission": item.outcome.remission,
        "baseline_id": item.baseline_id,
    }


@router.post("/patients/{patient_id}/assessments", response={201: AssessmentOut, **ERRORS})
def create_assessment(request: HttpRequest, patient_id: str, payload: AssessmentIn) -> Any:
    """Submit a complete response; it is scored, locked, and raises any safety alert at once.
    422 names the field: "instrument", "answers" (count) or "answers.<item number>"."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    assessment = services.assessment_submit(
        actor=request.user,
        patient=patient,
        instrument_code=payload.instrument,
        answers=payload.answers,
        completed_at=payload.completed_at,
    )
    return Status(201, _out(selectors.scored_assessment(patient=patient, assessment=assessment)))


@router.get("/patients/{patient_id}/assessments", response={200: list[AssessmentOut], **ERRORS})
def list_assessments(request: HttpRequest, patient_id: str, instrument: str | None = None) -> Any:
    """The patient's submitted assessments, oldest first, with change from baseline."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    if not request.user.has_role_perm(Perm.OUTCOMES_VIEW):
        raise PermissionDenied("Your role may not read questionnaire scores.")
    scored = selectors.scored_assessments(patient=patient, instrument_code=instrument)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"assessments": [s.assessment.pk for s in scored]},
    )
    return [_out(s) for s in scored]
