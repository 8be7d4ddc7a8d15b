"""Reads of protocols and courses, scoped by the user through the patients selectors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from infusionclinic.accounts.models import Clinic, User
from infusionclinic.common.access import denied
from infusionclinic.common.ids import id_from_path
from infusionclinic.outcomes.selectors import score_history
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patients_visible_to

from .models import Phase, PhaseDecision, Protocol, TreatmentCourse
from .proposals import (
    Proposal,
    ScorePointLike,
    point_text,
    propose_end_of_induction,
    propose_in_maintenance,
)


def protocols_current(*, clinic: Clinic) -> list[Protocol]:
    """The newest version of each protocol this clinic may use: its own edits, else the seeded
    defaults (clinic = None)."""
    rows = Protocol.objects.filter(Q(clinic__isnull=True) | Q(clinic=clinic)).order_by(
        "key", "-version"
    )
    current: dict[str, Protocol] = {}
    for row in rows:
        current.setdefault(row.key, row)
    return list(current.values())


def protocol_get_for_user(*, user: User, protocol_id: int | str) -> Protocol:
    clinics = Clinic.objects.filter(locations__in=user.locations.all())
    protocol = (
        Protocol.objects.filter(Q(clinic__isnull=True) | Q(clinic__in=clinics))
        .filter(pk=id_from_path(protocol_id))
        .first()
    )
    if protocol is None:
        raise Http404("No such protocol.")
    return protocol


def courses_visible_to(*, user: User) -> QuerySet[TreatmentCourse]:
    return TreatmentCourse.objects.filter(patient__in=patients_visible_to(user=user))


def course_get_for_user(*, user: User, course_id: int | str) -> TreatmentCourse:
    """The course, if its patient is visible to this user; otherwise Http404 and a `denied`
    event, exactly like patient_get_for_user."""
    pk = id_from_path(course_id)
    course = (
        courses_visible_to(user=user)
        .select_related("patient", "patient__home_location", "protocol")
        .filter(pk=pk)
        .first()
        if pk is not None
        else None
    )
    if course is None:
        raise denied(user, "courses.TreatmentCourse", course_id, "No such course.")
    return course


def courses_for_patient(*, patient: Patient) -> list[TreatmentCourse]:
    return list(TreatmentCourse.objects.filter(patient=patient).select_related("protocol"))


def course_active_for_patient(*, patient: Patient) -> TreatmentCourse | None:
    """The patient's course in induction or maintenance (the newest, if several), or None."""
    return (
        TreatmentCourse.objects.filter(
            patient=patient, phase__in=(Phase.INDUCTION, Phase.MAINTENANCE)
        )
        .select_related("protocol")
        .order_by("-started_at")
        .first()
    )


def course_series_defaults(*, course: TreatmentCourse) -> dict[str, int]:
    """What the course's protocol version books next: the induction series (PROT-10), or one
    maintenance infusion at its interval (PROT-30)."""
    protocol = course.protocol
    if course.phase == Phase.MAINTENANCE:
        return {"count": 1, "interval_days": protocol.maintenance_interval_days}
    return {"count": protocol.induction_count, "interval_days": protocol.induction_interval_days}


@dataclass(frozen=True)
class InductionEnd:
    """When induction ends (PROT-10, PROT-23): the local day of its last infusion.

    `source` says where the day came from: "booked" (the course's booked series holds every
    planned induction infusion: the last of them), "planned_from_first" (some are booked: the
    plan counted from the first booked one, or the last booked one if later), "planned" (none
    booked: the plan counted from the phase's start)."""

    ends_at: datetime  # aware, in the zone the day is read in
    source: str

    @property
    def on(self) -> date:
        return self.ends_at.date()


def induction_planned_count(course: TreatmentCourse) -> int:
    """PROT-10 count of the course's protocol version plus its PROT-23 extension."""
    return course.protocol.induction_count + course.extension_infusions_used


def course_induction_end(*, course: TreatmentCourse) -> InductionEnd | None:
    """The one source of the induction end date (issue 21 point 8), read by the course page,
    the series page, the API and the proposal: the booked series when the course has one, else
    the protocol's plan (PROT-10 count and spacing, PROT-23 extension). None outside induction."""
    if course.phase != Phase.INDUCTION:
        return None
    planned = induction_planned_count(course)
    interval = timedelta(days=course.protocol.induction_interval_days)
    # Infusions booked for this induction (a re-induction counts from its own phase start).
    # String values: the scheduling app links to courses, not the other way round.
    booked = list(
        course.appointments.filter(
            kind="infusion",
            status__in=("booked", "completed"),
            starts_at__gte=course.phase_started_at,
        )
        .select_related("location")
        .order_by("starts_at")
    )
    if len(booked) >= planned:
        last = booked[planned - 1]
        return InductionEnd(last.starts_at.astimezone(last.location.tzinfo), "booked")
    if booked:
        first = booked[0]
        tz = first.location.tzinfo
        by_plan = first.starts_at + interval * (planned - 1)
        ends_at = max(by_plan, booked[-1].starts_at)
        return InductionEnd(ends_at.astimezone(tz), "planned_from_first")
    tz = course.patient.home_location.tzinfo
    return InductionEnd(
        (course.phase_started_at + interval * (planned - 1)).astimezone(tz), "planned"
    )


def course_decisions(*, course: TreatmentCourse) -> list[PhaseDecision]:
    return list(course.decisions.select_related("decided_by"))


def course_score_history(course: TreatmentCourse) -> list[ScorePointLike]:
    """The primary instrument's submitted scores for the course's patient (outcomes app), clinic
    scores and home check-ins alike (issue 18 section 2), each saying which it is."""
    return list(score_history(patient=course.patient, instrument_code=course.primary_instrument))


def course_proposal(
    *,
    course: TreatmentCourse,
    history: Sequence[ScorePointLike],
    now: datetime | None = None,
) -> Proposal | None:
    """The proposal for the course's phase from a score history passed in (PROT-23, PROT-30,
    PROT-32, PROT-40); None for phases that propose nothing."""
    now = now or timezone.now()
    proposal = _course_proposal(course=course, history=history, now=now)
    if proposal is None:
        return None
    # Issue 18 section 2: say which score the proposal rests on, clinic or home check-in.
    used = [p for p in history if p.completed_at <= now]
    if not used:
        return proposal
    latest = max(used, key=lambda p: p.completed_at)
    return replace(
        proposal,
        numbers=dict(proposal.numbers)
        | {"score_used": f"{course.primary_instrument} {point_text(latest)}"},
    )


def _course_proposal(
    *, course: TreatmentCourse, history: Sequence[ScorePointLike], now: datetime
) -> Proposal | None:
    rule = course.protocol.response_rule()
    if course.phase == Phase.INDUCTION:
        end = course_induction_end(course=course)
        return propose_end_of_induction(
            history,
            rule=rule,
            started_at=course.phase_started_at,
            now=now,
            extension_infusions_used=course.extension_infusions_used,
            ends_at=end.ends_at if end is not None else None,
        )
    if course.phase == Phase.MAINTENANCE:
        return propose_in_maintenance(
            history,
            rule=rule,
            course_started_at=course.started_at,
            phase_started_at=course.phase_started_at,
            now=now,
        )
    return None


def course_proposal_from_scores(*, course: TreatmentCourse) -> tuple[Proposal | None, bool]:
    """(proposal, scores_unavailable) for the course page and API: a proposal is made only from
    a real score history; with no submitted score of the primary scale the page says so."""
    if course.phase not in (Phase.INDUCTION, Phase.MAINTENANCE):
        return None, False
    history = course_score_history(course)
    if not history:
        return None, True
    return course_proposal(course=course, history=history), False


# --- Evidence strength (PROT-4, PROT-31) and the maintenance review date (PROT-33) -------------


@cache
def _protocol_data() -> dict[str, Any]:
    """data/protocols.json, read once (its evidence and preset texts are not per clinic)."""
    from .services import DEFAULT_PROTOCOLS

    data: dict[str, Any] = json.loads(DEFAULT_PROTOCOLS.read_text(encoding="utf-8"))
    return data


def indication_evidence(indication: str) -> list[str]:
    """PROT-4: what the evidence is for this indication, in the clinic's words, so the course
    pages do not present every indication as equally proven."""
    lines: list[str] = _protocol_data()["evidence"].get(indication, [])
    return lines


def maintenance_evidence() -> str:
    """PROT-31: maintenance infusions rest on limited evidence; the interval is individual."""
    text: str = _protocol_data()["maintenance_evidence"]
    return text


def course_review_due(*, course: TreatmentCourse) -> datetime | None:
    """PROT-33: a course in maintenance has a review date for its continued need, with the
    referring provider, every COURSE_MAINTENANCE_REVIEW_DAYS (unverified default 182) from the
    start of maintenance; None outside maintenance."""
    if course.phase != Phase.MAINTENANCE:
        return None
    return course.phase_started_at + timedelta(days=settings.COURSE_MAINTENANCE_REVIEW_DAYS)


def induction_presets() -> list[dict[str, object]]:
    """PROT-11: the published induction schedules offered beside the clinic default (PROT-10).
    They are counted per week, which the protocol's fixed interval in days cannot state exactly,
    so the edit page lists them for the prescriber to enter rather than filling the form."""
    presets: list[dict[str, object]] = _protocol_data()["induction_presets"]
    return presets
