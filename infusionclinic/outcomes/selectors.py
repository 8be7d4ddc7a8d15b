"""Reads of rating-scale data. Callers pass a Patient they already got through
patients.selectors.patient_get_for_user (or a user, for the alert list), so access is decided in
one place.

Baseline (SCALE-2): the first submitted response of that instrument for the patient, optionally
counting only responses completed at or after `since`. Issue 5 defines the baseline as the first
response of the treatment course; courses arrive with issue 6, which passes the course's start
as `since`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.http import Http404

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm
from infusionclinic.common.ids import id_from_path
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patients_visible_to

from . import scoring
from .models import (
    Assessment,
    AssessmentSource,
    AssessmentStatus,
    InstrumentAssignment,
    InstrumentDefinition,
    SafetyAlert,
)


@dataclass(frozen=True)
class ScorePoint:
    assessment_id: int
    completed_at: datetime  # aware
    total: int
    source: str = AssessmentSource.CLINIC  # where it was collected (issue 18 section 2)

    @property
    def source_label(self) -> str:
        """ "clinic" or "home check-in" (the course proposal names the score it used)."""
        return str(AssessmentSource(self.source).label)


def _submitted(patient: Patient, instrument_code: str, since: datetime | None):  # type: ignore[no-untyped-def]
    qs = Assessment.objects.filter(
        patient=patient, instrument__code=instrument_code, status=AssessmentStatus.SUBMITTED
    )
    if since is not None:
        qs = qs.filter(completed_at__gte=since)
    return qs.order_by("completed_at", "pk")


def score_history(
    *, patient: Patient, instrument_code: str, since: datetime | None = None
) -> list[ScorePoint]:
    """Submitted assessments of that instrument for the patient, oldest first: clinic scores
    and home check-ins alike, each saying which it is (`source`)."""
    return [
        ScorePoint(assessment_id=pk, completed_at=completed_at, total=total, source=source)
        for pk, completed_at, total, source in _submitted(
            patient, instrument_code, since
        ).values_list("pk", "completed_at", "total", "source")
    ]


def submitted_since(*, patient: Patient, since: datetime) -> dict[str, int]:
    """Instrument code → id of the latest submitted assessment completed at or after `since`
    (the infusion pre-checks read which scales were collected for the visit, PROT-14)."""
    found: dict[str, int] = {}
    for code, pk in (
        Assessment.objects.filter(
            patient=patient, status=AssessmentStatus.SUBMITTED, completed_at__gte=since
        )
        .order_by("completed_at", "pk")
        .values_list("instrument__code", "pk")
    ):
        found[code] = pk
    return found


@dataclass(frozen=True)
class ScoredAssessment:
    assessment: Assessment
    baseline_id: int
    outcome: scoring.Outcome
    alerts: list[SafetyAlert]

    @property
    def spec(self) -> scoring.InstrumentSpec:
        return self.assessment.instrument.spec


def scored_assessments(
    *, patient: Patient, instrument_code: str | None = None, since: datetime | None = None
) -> list[ScoredAssessment]:
    """Submitted assessments with change from baseline, response and remission, oldest first."""
    qs = Assessment.objects.filter(patient=patient, status=AssessmentStatus.SUBMITTED)
    if instrument_code is not None:
        qs = qs.filter(instrument__code=instrument_code)
    if since is not None:
        qs = qs.filter(completed_at__gte=since)
    rows = list(
        # amendments: the outcomes page marks amended rows (one query, not one per row).
        qs.select_related("instrument")
        .prefetch_related("alerts", "amendments")
        .order_by("completed_at", "pk")
    )
    baselines: dict[str, Assessment] = {}
    scored = []
    for row in rows:
        baseline = baselines.setdefault(row.instrument.code, row)
        result = scoring.outcome(
            row.instrument.spec,
            baseline_total=baseline.total or 0,  # submitted rows always have a total
            total=row.total or 0,
            is_baseline=baseline.pk == row.pk,
        )
        scored.append(ScoredAssessment(row, baseline.pk, result, list(row.alerts.all())))
    return scored


def scored_assessment(*, patient: Patient, assessment: Assessment) -> ScoredAssessment:
    for item in scored_assessments(patient=patient, instrument_code=assessment.instrument.code):
        if item.assessment.pk == assessment.pk:
            return item
    raise Http404("No such submitted assessment.")


def assessment_get(*, patient: Patient, assessment_id: int | str | None) -> Assessment:
    """One of this patient's assessments; 404 for anything else (another patient's included)."""
    pk = id_from_path(assessment_id)
    if pk is None:
        raise Http404("No such assessment.")
    found = (
        Assessment.objects.select_related("instrument", "patient")
        .filter(patient=patient, pk=pk)
        .first()
    )
    if found is None:
        raise Http404("No such assessment.")
    return found


def draft_get(*, patient: Patient, instrument: InstrumentDefinition) -> Assessment | None:
    return (
        Assessment.objects.filter(
            patient=patient, instrument=instrument, status=AssessmentStatus.DRAFT
        )
        .order_by("-updated_at", "-pk")
        .first()
    )


def instruments_current() -> list[InstrumentDefinition]:
    """The newest version of each instrument, by code."""
    latest: dict[str, InstrumentDefinition] = {}
    for definition in InstrumentDefinition.objects.order_by("code", "-version"):
        latest.setdefault(definition.code, definition)
    return list(latest.values())


def assignments_active(*, patient: Patient) -> list[InstrumentAssignment]:
    return list(InstrumentAssignment.objects.filter(patient=patient, active=True))


def alerts_for_patient(*, patient: Patient, open_only: bool = False) -> list[SafetyAlert]:
    qs = SafetyAlert.objects.filter(patient=patient).select_related(
        "assessment__instrument", "acknowledged_by"
    )
    if open_only:
        qs = qs.filter(acknowledged_at__isnull=True)
    return list(qs)


def safety_alerts_open(*, patient: Patient) -> list[SafetyAlert]:
    """The patient's open SCALE-4 safety alerts, newest first: the one read every step that
    warns or stops on them uses (issue 21 point 9; `outcomes.safety`, infusions' pre-checks)."""
    return alerts_for_patient(patient=patient, open_only=True)


def open_alerts_for_user(*, user: User) -> list[SafetyAlert]:
    """Open safety alerts of the patients this user may see (the clinicians' in-app list)."""
    if not user.has_role_perm(Perm.SAFETY_ALERT_ACK):
        return []
    return list(
        SafetyAlert.objects.filter(
            acknowledged_at__isnull=True, patient__in=patients_visible_to(user=user)
        ).select_related("patient", "patient__home_location", "assessment__instrument")
    )


def alert_get(*, patient: Patient, alert_id: int | str | None) -> SafetyAlert:
    pk = id_from_path(alert_id)
    if pk is None:
        raise Http404("No such alert.")
    found = SafetyAlert.objects.filter(patient=patient, pk=pk).first()
    if found is None:
        raise Http404("No such alert.")
    return found
