"""API: treatment courses (/api/v1/courses) and protocols (/api/v1/protocols).

Courses are keyed by course_id; `course_get_for_user` answers 404 for any course whose patient
the caller may not see."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from infusionclinic.accounts.roles import Perm
from infusionclinic.api.fields import Id
from infusionclinic.api.schemas import ErrorOut
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients.selectors import patient_get_for_user

from . import services
from .models import TreatmentCourse
from .proposals import Proposal
from .selectors import (
    course_decisions,
    course_get_for_user,
    course_induction_end,
    course_proposal_from_scores,
    courses_for_patient,
    protocols_current,
)

router = Router(tags=["courses"])
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class DecisionOut(Schema):
    from_phase: str
    to_phase: str
    reason: str
    proposal_action: str
    proposal_rule_ids: list[str]
    proposal_numbers: dict[str, str]
    decided_by: str
    decided_at: datetime


class ProposalOut(Schema):
    action: str
    rule_ids: list[str]
    explanation: str
    numbers: dict[str, str]
    alternatives: list[str]
    due_at: datetime | None


class CourseOut(Schema):
    id: int
    patient_id: int
    indication: str
    phase: str
    protocol: str
    protocol_id: int
    primary_instrument: str
    started_at: datetime
    phase_started_at: datetime
    extension_infusions_used: int
    decisions: list[DecisionOut]
    proposal: ProposalOut | None = None
    scores_unavailable: bool = False
    # Issue 21 point 8: the same day the course page and the series page show (PROT-10).
    induction_ends_on: date | None = None
    induction_ends_source: str | None = None


class CourseIn(Schema):
    model_config = ConfigDict(extra="forbid")
    patient_id: Id
    indication: str = Field(max_length=16)
    primary_instrument: str = Field("", max_length=20)
    override_reason: str = Field("", max_length=2000)  # PROT-42


class DecisionIn(Schema):
    model_config = ConfigDict(extra="forbid")
    to_phase: str = Field(max_length=16)
    reason: str = Field(max_length=4000)
    extension_infusions: int = Field(0, ge=0, le=20)


class ProtocolOut(Schema):
    id: int
    key: str
    version: int
    name: str
    indication: str
    induction_count: int
    induction_interval_days: int
    maintenance_interval_days: int
    primary_instrument: str
    response_measure: str
    response_threshold: float
    clinic_edited: bool


def _proposal_out(p: Proposal | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "action": p.action.value,
        "rule_ids": list(p.rule_ids),
        "explanation": p.explanation,
        "numbers": p.numbers,
        "alternatives": [a.value for a in p.alternatives],
        "due_at": p.due_at,
    }


def course_out(course: TreatmentCourse, *, with_proposal: bool = False) -> dict[str, Any]:
    proposal, unavailable = (
        course_proposal_from_scores(course=course) if with_proposal else (None, False)
    )
    return {
        "id": course.pk,
        "patient_id": course.patient_id,
        "indication": course.indication,
        "phase": course.phase,
        "protocol": str(course.protocol),
        "protocol_id": course.protocol_id,
        "primary_instrument": course.primary_instrument,
        "started_at": course.started_at,
        "phase_started_at": course.phase_started_at,
        "extension_infusions_used": course.extension_infusions_used,
        "decisions": [
            {
                "from_phase": d.from_phase,
                "to_phase": d.to_phase,
                "reason": d.reason,
                "proposal_action": d.proposal_action,
                "proposal_rule_ids": d.proposal_rule_ids,
                "proposal_numbers": d.proposal_numbers,
                "decided_by": d.decided_by.full_name,
                "decided_at": d.decided_at,
            }
            for d in course_decisions(course=course)
        ],
        "proposal": _proposal_out(proposal),
        "scores_unavailable": unavailable,
        "induction_ends_on": end.on if (end := course_induction_end(course=course)) else None,
        "induction_ends_source": end.source if end else None,
    }


def _require_view(request: HttpRequest) -> None:
    if not request.user.has_role_perm(Perm.COURSE_VIEW):
        raise PermissionDenied("Your role may not see treatment courses.")


@router.get("/courses", response={200: list[CourseOut], **ERRORS})
def list_courses(request: HttpRequest, patient_id: str = Query(...)) -> Any:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    _require_view(request)
    courses = courses_for_patient(patient=patient)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        detail={"courses": [c.pk for c in courses]},
    )
    return [course_out(c) for c in courses]


@router.post("/courses", response={201: CourseOut, **ERRORS})
def create_course(request: HttpRequest, payload: CourseIn) -> Any:
    patient = patient_get_for_user(user=request.user, patient_id=payload.patient_id)
    course = services.course_start(
        actor=request.user,
        patient=patient,
        indication=payload.indication,
        primary_instrument=payload.primary_instrument,
        override_reason=payload.override_reason,
    )
    return Status(201, course_out(course))


@router.get("/courses/{course_id}", response={200: CourseOut, **ERRORS})
def get_course(request: HttpRequest, course_id: str) -> Any:
    """The course with its phase history and, when scores are available, the current proposal
    (its rule ids and the numbers it used)."""
    course = course_get_for_user(user=request.user, course_id=course_id)
    _require_view(request)
    audit_record(actor=request.user, action=AuditAction.VIEW, patient=course.patient, obj=course)
    return course_out(course, with_proposal=True)


@router.post("/courses/{course_id}/decisions", response={201: CourseOut, **ERRORS})
def decide_phase(request: HttpRequest, course_id: str, payload: DecisionIn) -> Any:
    """A prescriber's phase decision with its reason; the proposal then shown is recorded."""
    course = course_get_for_user(user=request.user, course_id=course_id)
    if not request.user.has_role_perm(Perm.COURSE_MANAGE):
        raise PermissionDenied("Only a prescriber decides a course's phase.")
    proposal, _ = course_proposal_from_scores(course=course)
    services.phase_decide(
        actor=request.user,
        course=course,
        to_phase=payload.to_phase,
        reason=payload.reason,
        proposal=proposal,
        extension_infusions=payload.extension_infusions,
    )
    course.refresh_from_db()
    return Status(201, course_out(course))


@router.get("/protocols", response={200: list[ProtocolOut], **ERRORS})
def list_protocols(request: HttpRequest) -> Any:
    _require_view(request)
    location = request.user.locations.select_related("clinic").first()
    if location is None:
        return []
    return [
        {
            **{f: getattr(p, f) for f in ProtocolOut.model_fields if hasattr(p, f)},
            "clinic_edited": p.clinic_id is not None,
        }
        for p in protocols_current(clinic=location.clinic)
    ]
