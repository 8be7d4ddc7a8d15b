"""Today's day board for the demo (issue 21 point 1): a chair in every state at each location's
local time (scheduled, checked in, pre-checks, infusing, paused, recovering, discharged), built with
the same service steps as the visits' history (`demo/visits.py`). A state whose times fall outside
the opening hours (night, weekend) or finds no patient free (PROT-12 spacing) is left out."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import Location
from infusionclinic.courses.models import Phase, TreatmentCourse
from infusionclinic.infusions import services as infusions
from infusionclinic.infusions.models import InfusionSession
from infusionclinic.outcomes.selectors import safety_alerts_open
from infusionclinic.scheduling import services as scheduling
from infusionclinic.scheduling.models import Appointment, AppointmentKind, AppointmentStatus

from .ledger import Ledger
from .visits import (
    REFUSED,
    Report,
    Staff,
    Visit,
    _at,
    _courses,
    _finish,
    _infuse,
    _order_for,
    _questionnaires,
    _recover,
    _start,
)

# (state, minutes from now to the appointment's start). Each fits the opening hours or is left
# out; the appointment length is SCHEDULING_* (120 min by default).
BOARD = [
    ("discharged", -150),
    ("recovering", -95),
    ("paused", -45),
    ("infusing", -35),
    ("pre_checks", -20),
    ("checked_in", -5),
    ("scheduled", 50),
]


def _board_candidates(location: Location, now: datetime) -> list[TreatmentCourse]:
    spacing = timedelta(hours=settings.SCHEDULING_MIN_SPACING_HOURS)
    out = []
    for course in _courses():
        patient = course.patient
        if patient.home_location_id != location.pk:
            continue
        if course.phase not in (Phase.INDUCTION, Phase.MAINTENANCE):
            continue
        if safety_alerts_open(patient=patient):
            continue
        near = Appointment.objects.filter(
            patient=patient,
            kind=AppointmentKind.INFUSION,
            status__in=[AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED],
            starts_at__gt=now - spacing - timedelta(hours=3),
            starts_at__lt=now + spacing + timedelta(hours=3),
        )
        if not near.exists():
            out.append(course)
    return out


def board_build(
    staff: Staff, rng: random.Random, report: Report, today_local: date | None, ledger: Ledger
) -> None:
    """Today's chairs in every state at the demo's local time (each location's own clock)."""
    now = timezone.now()
    locations = list(Location.objects.order_by("pk"))
    candidates: dict[int, list[TreatmentCourse]] = {}
    for location in locations:
        today = timezone.localdate(timezone=location.tzinfo)
        start = _at(today, time.min, location)
        if (
            today_local not in (None, today)
            or InfusionSession.objects.filter(
                location=location, scheduled_at__gte=start, scheduled_at__lt=start + timedelta(1)
            ).exists()
        ):
            candidates[location.pk] = []  # another day, or built already
            continue
        candidates[location.pk] = _board_candidates(location, now)
    length = scheduling.appointment_length(AppointmentKind.INFUSION)
    turn = 0
    for state, offset in BOARD:
        starts = (now + timedelta(minutes=offset)).replace(second=0, microsecond=0)
        placed = False
        for i in range(len(locations)):
            location = locations[(turn + i) % len(locations)]
            pool = candidates[location.pk]
            if not pool or scheduling.opening_problem(
                location=location, starts_at=starts, ends_at=starts + length
            ):
                continue
            for course in list(pool):
                try:
                    with transaction.atomic():
                        done = _board_visit(course, state, starts, length, staff, ledger, now, rng)
                except REFUSED as exc:
                    report.skipped.append(f"today {state}, course {course.pk}: {exc}")
                    done = False
                if done:
                    pool.remove(course)
                    report.board.append(f"{location.code}: {state}")
                    placed = True
                    break
            if placed:
                turn += 1
                break
        if not placed:
            report.skipped.append(f"today: no {state} chair (closed, or no patient free)")


def _board_visit(
    course: TreatmentCourse,
    state: str,
    starts: datetime,
    length: timedelta,
    staff: Staff,
    ledger: Ledger,
    now: datetime,
    rng: random.Random,
) -> bool:
    location = course.patient.home_location
    order = _order_for(course, now)
    if order is None or order.duration_min > 60:
        return False
    chair = scheduling.free_chair(location=location, starts_at=starts, ends_at=starts + length)
    if chair is None or scheduling.booking_problems(
        location=location,
        kind=AppointmentKind.INFUSION,
        starts_at=starts,
        ends_at=starts + length,
        chair=chair,
        patient=course.patient,
    ):
        return False
    (appointment,) = scheduling.appointment_series_book(
        actor=staff.front_desk,
        patient=course.patient,
        location=location,
        starts=[starts],
        course=course,
        now=min(starts, now) - timedelta(days=2),
    )
    visit = Visit(
        appointment=appointment,
        course=course,
        order=order,
        nurse=staff.nurse(location, rng),
        prescriber=staff.prescriber,
        side_effect=("AE-4", 1) if state == "paused" else None,
    )
    if state == "scheduled":
        infusions.session_create(
            actor=visit.nurse,
            patient=course.patient,
            order=order,
            location=location,
            scheduled_at=starts,
            appointment=appointment,
        )
        return True
    t0 = starts
    if state == "checked_in":
        _questionnaires(course.patient, order, visit.nurse, min(t0, now) - timedelta(minutes=20))
        session = infusions.session_create(
            actor=visit.nurse,
            patient=course.patient,
            order=order,
            location=location,
            scheduled_at=starts,
            appointment=appointment,
        )
        infusions.session_check_in(
            actor=visit.nurse,
            session=session,
            identity_confirmed=True,
            escort_name=course.patient.emergency_contact_name or "Escort",
            escort_phone=course.patient.emergency_contact_phone or "555-0100-000",
            at=min(t0 + timedelta(minutes=2), now),
        )
        return True
    session, base, draw = _start(visit, staff, ledger, rng, t0)
    if state == "pre_checks":
        return True
    started = t0 + timedelta(minutes=15)
    if state in ("infusing", "paused"):
        stopped = _infuse(visit, session, base, rng, started, until=now)
        if stopped is None and state == "paused":
            infusions.pump_event_record(
                actor=visit.nurse,
                session=session,
                action="pause",
                reason="Nausea (AE-4 grade 1): a short break at the patient's request.",
                at=now - timedelta(minutes=1),
            )
        return True
    stopped = _infuse(visit, session, base, rng, started)
    if stopped is None:  # pragma: no cover - without `until` the pump always stops
        raise RuntimeError("the infusion did not stop")
    if state == "recovering":
        _recover(visit, session, base, rng, stopped, until=now)
        ledger.close_dose(draw, visit.nurse, stopped + timedelta(minutes=2))
        return True
    observed = _recover(visit, session, base, rng, stopped)
    _finish(visit, session, staff, ledger, draw, stopped, observed)
    return True
