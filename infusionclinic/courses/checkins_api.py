"""API for a patient's check-ins (issue 18 section 4): `GET /api/v1/checkins/due` and
`POST /api/v1/checkins/{checkin_id}/answers`, on the same services as the portal pages
(`checkins.checkins_open_for_patient`, `checkin_get_for_patient_user` — 404 for anyone but the
patient — and `checkin_submit`, which scores with the one engine and raises SCALE-4)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.api.fields import EdgeInt
from infusionclinic.api.schemas import ErrorOut
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.outcomes.services import instrument_current
from infusionclinic.patients.selectors import patient_get_for_user

from . import checkins

router = Router(tags=["check-ins"])
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class OptionOut(Schema):
    value: int
    label: str


class ItemOut(Schema):
    number: int
    label: str
    text: str
    options: list[OptionOut]


class CheckInOut(Schema):
    id: int
    instrument: str
    instrument_name: str
    due_on: date
    due_at: datetime
    closes_at: datetime
    instructions: str
    recall: str
    items: list[ItemOut]


class AnswersIn(Schema):
    answers: list[EdgeInt | None] = Field(
        max_length=200, description="One integer per item, in order"
    )


class CrisisOut(Schema):
    crisis_line: str
    clinic_name: str
    clinic_phone: str
    message: str


class CheckInResultOut(Schema):
    checkin_id: int
    assessment_id: int
    instrument: str
    total: int
    severity: str | None
    completed_at: datetime
    alert_rule_ids: list[str]
    crisis: CrisisOut | None = Field(
        None, description="SCALE-4: show these resources to the patient at once"
    )


def _own_patient(request: HttpRequest) -> Any:
    user = request.user
    if user.role != Role.PATIENT or not user.has_role_perm(Perm.ASSESSMENT_SELF_REPORT):
        raise PermissionDenied("Check-ins are answered by the patient.")
    patient = getattr(user, "patient", None)
    if patient is None:
        raise Http404("No chart is linked to this log-in.")
    return patient_get_for_user(user=user, patient_id=patient.pk)


def _checkin_out(checkin: Any) -> dict[str, Any]:
    spec = instrument_current(code=checkin.instrument_code).spec
    return {
        "id": checkin.pk,
        "instrument": checkin.instrument_code,
        "instrument_name": spec.name,
        "due_on": checkin.due_on,
        "due_at": checkin.due_at,
        "closes_at": checkin.closes_at,
        "instructions": spec.instructions,
        "recall": spec.recall,
        "items": [
            {
                "number": item.number,
                "label": item.label,
                "text": item.text,
                "options": [{"value": o.value, "label": o.label} for o in item.options],
            }
            for item in spec.items
        ],
    }


@router.get("/checkins/due", response={200: list[CheckInOut], **ERRORS})
def checkins_due(request: HttpRequest) -> Any:
    """The logged-in patient's check-ins still to do, oldest first, with their questions."""
    patient = _own_patient(request)
    rows = checkins.checkins_open_for_patient(patient=patient)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"api": "checkins due", "checkins": [c.pk for c in rows]},
    )
    return [_checkin_out(c) for c in rows]


@router.post("/checkins/{checkin_id}/answers", response={201: CheckInResultOut, **ERRORS})
def checkin_answers(request: HttpRequest, checkin_id: str, payload: AnswersIn) -> Any:
    """Answer a check-in: scored by the one engine (SCALE-1); PHQ-9 item 9 ≥ 1 raises the SCALE-4
    alert and the answer carries the crisis resources to show at once."""
    _own_patient(request)
    checkin = checkins.checkin_get_for_patient_user(user=request.user, checkin_id=checkin_id)
    if not checkins.checkin_is_open(checkin):
        raise ValidationError({"__all__": ["This check-in is no longer due."]})
    assessment = checkins.checkin_submit(
        actor=request.user, checkin=checkin, answers=payload.answers
    )
    alerts = list(assessment.alerts.all())
    location = checkin.course.patient.home_location
    crisis = (
        {
            "crisis_line": settings.OUTCOMES_CRISIS_LINE,
            "clinic_name": location.name,
            "clinic_phone": location.phone,
            "message": "You are not alone — help is available now. Your care team has been told "
            "and will contact you. If you are in immediate danger, call 911 or go to the nearest "
            "emergency department.",
        }
        if alerts
        else None
    )
    return Status(
        201,
        {
            "checkin_id": checkin.pk,
            "assessment_id": assessment.pk,
            "instrument": checkin.instrument_code,
            "total": assessment.total,
            "severity": assessment.severity or None,
            "completed_at": assessment.completed_at,
            "alert_rule_ids": sorted({a.rule_id for a in alerts}),
            "crisis": crisis,
        },
    )
