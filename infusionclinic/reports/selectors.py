"""The progress report for the referring provider, assembled from the other apps' selectors:
course summary and phase decisions, signed doses, questionnaire scores with their chart, and
the next step the course proposes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString

from infusionclinic.courses.models import PhaseDecision, TreatmentCourse
from infusionclinic.courses.selectors import course_proposal_from_scores
from infusionclinic.dosing.models import DosingOrder, OrderStatus
from infusionclinic.infusions.selectors import (
    SessionDose,
    infusion_dates,
    session_doses_for_patient,
    side_effects_for_patient,
)
from infusionclinic.intake.selectors import consent_status
from infusionclinic.outcomes.chart import progress_chart_svg
from infusionclinic.outcomes.selectors import ScoredAssessment, scored_assessments
from infusionclinic.patients.models import Patient

from .models import ReportShare

SHARING_CONSENT_CODE = "data-use"  # intake's "Use of my health data": report to the referrer


@dataclass
class InstrumentSection:
    code: str
    name: str
    rows: list[ScoredAssessment]
    chart: SafeString


@dataclass
class CourseSection:
    course: TreatmentCourse
    decisions: list[PhaseDecision]
    next_step: Any  # courses.proposals.Proposal | None
    scores_unavailable: bool


@dataclass
class ProgressReport:
    patient: Patient
    generated_at: Any
    courses: list[CourseSection] = field(default_factory=list)
    doses: list[DosingOrder] = field(default_factory=list)
    # Issue 21 point 5: each infusion's dose given beside its dose ordered, early stops named.
    sessions: list[SessionDose] = field(default_factory=list)
    side_effects: list[Any] = field(default_factory=list)
    instruments: list[InstrumentSection] = field(default_factory=list)


def progress_report(*, patient: Patient) -> ProgressReport:
    """Everything the report shows. `patient` comes from an access-checked selector."""
    tz = patient.home_location.tzinfo
    report = ProgressReport(patient=patient, generated_at=timezone.now())
    for course in (
        TreatmentCourse.objects.filter(patient=patient)
        .select_related("protocol")
        .order_by("started_at")
    ):
        proposal, unavailable = course_proposal_from_scores(course=course)
        report.courses.append(
            CourseSection(
                course=course,
                decisions=list(course.decisions.order_by("decided_at")),
                next_step=proposal,
                scores_unavailable=unavailable,
            )
        )
    report.doses = list(
        DosingOrder.objects.filter(patient=patient, status=OrderStatus.SIGNED).order_by("signed_at")
    )
    report.sessions = session_doses_for_patient(patient=patient)
    report.side_effects = side_effects_for_patient(patient=patient)
    dates = infusion_dates(patient=patient)
    by_code: dict[str, list[ScoredAssessment]] = {}
    for row in scored_assessments(patient=patient):
        by_code.setdefault(row.assessment.instrument.code, []).append(row)
    for code, rows in sorted(by_code.items()):
        report.instruments.append(
            InstrumentSection(
                code=code,
                name=rows[-1].assessment.instrument.name,
                rows=rows,
                chart=progress_chart_svg(
                    spec=rows[-1].spec,
                    points=[(r.assessment.completed_at, r.assessment.total) for r in rows],
                    tz=tz,
                    infusion_dates=dates,
                ),
            )
        )
    return report


def sharing_consented(*, patient: Patient) -> bool:
    """Sharing with the referring provider rests on the patient's current, countersigned
    "Use of my health data" consent (intake)."""
    return any(
        item.document.code == SHARING_CONSENT_CODE and item.current
        for item in consent_status(patient=patient)
    )


def share_open(*, raw_token: str) -> ReportShare | None:
    """The share a link opens, if it is valid: known token, not revoked, not expired."""
    return (
        ReportShare.objects.filter(
            token_digest=ReportShare.digest_of(raw_token),
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .select_related("patient__home_location", "patient__referring_provider")
        .first()
    )
