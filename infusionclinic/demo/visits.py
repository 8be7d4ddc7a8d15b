"""The demo's visits (issue 21 point 1): for every treatment course with a signed dosing order
(built by `demo/history.py`), its infusion appointments and completed sessions, the
controlled-substance ledger they draw from, their invoices and payments, and today's day board.

Everything goes through the services, at the time it happened (their keyword-only `at=` / `now=`
/ `taken_at=`), so every rule, audit event and ledger balance is real. Deterministic
(`random.Random(SEED)`) and safe to re-run: a course that already has appointments, a location
whose board already has today's sessions, a ledger, price list or registration already on file
is left as it is.

Times: induction weekly from the course's start for the protocol's count (PROT-10, plus any
PROT-23 extension), maintenance every `maintenance_interval_days` (PROT-30) after the decision,
nothing after a pause or discontinuation; vital signs before the start (MON-T1), every
`interval_infusing_min` while infusing (MON-T2) and at the end (MON-T3), every
`interval_recovering_min` after (MON-T4) for the minimum observation (MON-T5)."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Role
from infusionclinic.billing import services as billing
from infusionclinic.billing.models import (
    BillableService,
    BillingProvider,
    PackagePlan,
    PackagePurchase,
    Price,
)
from infusionclinic.billing.selectors import invoice_figures
from infusionclinic.controlled import compliance
from infusionclinic.controlled.models import LedgerEntry
from infusionclinic.courses.models import Phase, TreatmentCourse
from infusionclinic.demo import data
from infusionclinic.demo.ledger import Ledger, pump_ml
from infusionclinic.dosing.models import DosingOrder, OrderStatus
from infusionclinic.infusions import rules
from infusionclinic.infusions import services as infusions
from infusionclinic.infusions.conf import conf
from infusionclinic.infusions.facility import facility_check_record, facility_check_today
from infusionclinic.infusions.models import InfusionSession, VitalAlert
from infusionclinic.intake.selectors import patient_may_be_booked
from infusionclinic.outcomes import scoring
from infusionclinic.outcomes.models import Assessment, AssessmentStatus
from infusionclinic.outcomes.selectors import assignments_active, safety_alerts_open
from infusionclinic.outcomes.services import assessment_submit, instrument_current
from infusionclinic.scheduling import services as scheduling
from infusionclinic.scheduling.management.commands.seed_demo_schedule import (
    PAST_DAYS,
    schedule_seed,
)
from infusionclinic.scheduling.models import Appointment, AppointmentKind, AppointmentStatus

logger = logging.getLogger(__name__)
# What a service answers when it refuses a step: that visit is left out and logged.
REFUSED = (ValidationError, PermissionDenied, scheduling.BookingConflict)
SEED = 2126
HISTORY_DAYS = PAST_DAYS - 5  # shifts exist from PAST_DAYS ago (seed_demo_schedule)

# §4: DEA registrations with valid check digits (fictional numbers).
REGISTRATIONS = {"boston": "FB1234563", "denver": "FD7654329"}

# Demo self-pay prices (money, not clinical numbers) and one package per location.
PRICES = {
    "96365": "450.00",
    "96366": "150.00",
    "96374": "200.00",
    "J3490": "35.00",
}
PACKAGE = {"name": "Induction series (3 infusions)", "code": "96365", "sessions": 3}
PACKAGE_PRICE = Decimal("1200.00")
BILLING_NPI = "1742051182"  # valid check digit, fictional

SLOTS = [time(10, 30), time(13), time(14, 30), time(11), time(12), time(15), time(9), time(8, 30)]
PAIN_SLOTS = [time(8, 30), time(9), time(8), time(9, 30)]  # a 4 h infusion (DOSE-P2)

GOOD_ALDRETE = dict.fromkeys(rules.ALDRETE_ITEMS, 2)
GOOD_PADSS = dict.fromkeys(rules.PADSS_ITEMS, 2)


@dataclass
class Staff:
    admin: User
    front_desk: User
    prescriber: User
    nurses: dict[int, list[User]]  # location id → nurses

    def nurse(self, location: Location, rng: random.Random) -> User:
        return rng.choice(self.nurses[location.pk])


@dataclass
class Visit:
    """One infusion to build: its appointment, what happens in it, and when."""

    appointment: Appointment
    course: TreatmentCourse
    order: DosingOrder
    nurse: User
    prescriber: User
    bp_alert: bool = False  # MON-BP-5 rise, acknowledged
    bp_pause: bool = False  # MON-BP-3: pause, recheck, prescriber resumes
    side_effect: tuple[str, int] | None = None
    waste: bool = False
    pay: bool = True
    sell_package: bool = False


@dataclass
class Report:
    courses: int = 0
    sessions: int = 0
    skipped: list[str] = field(default_factory=list)
    board: list[str] = field(default_factory=list)


# --- Entry point ------------------------------------------------------------------------------


def visits_build(*, today_local: date | None = None) -> Report:
    """Build the visits of every course with a signed order, up to yesterday, then today's
    board. `today_local`: the day the history runs up to (default each location's today)."""
    rng = random.Random(SEED)  # noqa: S311 - a demo's fixed seed, not security
    staff = _staff()
    schedule_seed()
    _clinic_setup(staff)
    report = Report()
    visits = _plan(staff, rng, report, today_local)
    ledger = Ledger(staff)
    day_key: tuple[int, date] | None = None
    for visit in sorted(visits, key=lambda v: (v.appointment.starts_at, v.appointment.pk)):
        location = visit.appointment.location
        key = (location.pk, _local(visit.appointment.starts_at, location).date())
        if day_key is not None and key != day_key:
            ledger.day_end(*day_key)
        day_key = key
        try:
            with transaction.atomic():  # a visit the services refuse is left out, not half-made
                _past_session(visit, staff, ledger)
        except REFUSED as exc:
            report.skipped.append(f"appointment {visit.appointment.pk}: {exc}")
            continue
        report.sessions += 1
    if day_key is not None:
        ledger.day_end(*day_key)
    from .board import board_build  # the board reuses this module's session steps

    board_build(staff, rng, report, today_local, ledger)
    if today_local is None:
        _book_ahead(staff, report)
    for line in report.skipped:
        logger.warning("demo visits: %s", line)
    return report


def _cap(at: datetime) -> datetime:
    """Never later than now (a step that would still be ahead happens now)."""
    return min(at, timezone.now())


def _local(at: datetime, location: Location) -> datetime:
    return at.astimezone(location.tzinfo)


def _at(day: date, clock: time, location: Location) -> datetime:
    return datetime.combine(day, clock, tzinfo=location.tzinfo)


# --- Staff and the clinic's set-up ------------------------------------------------------------


def _staff() -> Staff:
    """The demo's staff (`data.USERS`: several nurses per location, CS-44 witnesses)."""
    nurses: dict[int, list[User]] = defaultdict(list)
    for nurse in User.objects.filter(role=Role.NURSE, is_active=True).order_by("pk"):
        for location in nurse.locations.all():
            nurses[location.pk].append(nurse)

    def one(role: str) -> User:
        return User.objects.filter(role=role, is_active=True).order_by("pk").first()  # type: ignore[return-value]

    return Staff(
        admin=one(Role.ADMIN),
        front_desk=one(Role.FRONT_DESK),
        prescriber=one(Role.PRESCRIBER),
        nurses=dict(nurses),
    )


def _clinic_setup(staff: Staff) -> None:
    """DEA registration (§4, CS-4), the price list, a package plan, the prescriber's NPI."""
    today = timezone.localdate()
    for location in Location.objects.order_by("pk"):
        number = REGISTRATIONS.get(location.code)
        if number and compliance.registration_current(location=location) is None:
            compliance.registration_record(
                actor=staff.admin,
                location=location,
                registrant_name=data.CLINIC_NAME,
                dea_number=number,
                address=location.address or location.name,
                expires_on=today + timedelta(days=700),
                phone=location.phone,
                contact_name=staff.admin.full_name,
            )
        for code, amount in PRICES.items():
            if not Price.objects.filter(location=location, service__code=code).exists():
                billing.price_set(
                    actor=staff.admin,
                    location=location,
                    service_code=code,
                    unit_price=amount,
                    effective_from=today - timedelta(days=PAST_DAYS + 30),
                )
        # Package plans have no service of their own (the admin site edits them).
        PackagePlan.objects.get_or_create(
            location=location,
            name=PACKAGE["name"],
            defaults={
                "service": BillableService.objects.get(code=PACKAGE["code"]),
                "sessions": PACKAGE["sessions"],
                "price": PACKAGE_PRICE,
            },
        )
    if not BillingProvider.objects.filter(user=staff.prescriber).exists():
        billing.billing_provider_set(
            actor=staff.admin,
            user=staff.prescriber,
            display_name=staff.prescriber.full_name,
            npi=BILLING_NPI,
            credentials="MD",
        )


# --- Planning the past visits -----------------------------------------------------------------


def _courses() -> list[TreatmentCourse]:
    """Courses with a signed order: linked to the course, or the patient's unlinked order."""
    signed = DosingOrder.objects.filter(status=OrderStatus.SIGNED)
    return list(
        TreatmentCourse.objects.filter(
            Q(pk__in=signed.values("course_id"))
            | Q(patient__in=signed.filter(course__isnull=True).values("patient_id"))
        )
        .select_related("protocol", "patient__home_location")
        .order_by("started_at", "pk")
    )


def _segments(course: TreatmentCourse, end: datetime) -> list[tuple[str, datetime, datetime, int]]:
    """(phase, from, to, extension infusions) from the course's phase history."""
    out: list[list[Any]] = [[Phase.INDUCTION, course.started_at, end, 0]]
    for decision in course.decisions.order_by("decided_at", "pk"):
        if not decision.from_phase:
            continue
        if decision.decided_at >= end:
            break
        if decision.to_phase == decision.from_phase == Phase.INDUCTION:  # PROT-23 extension
            out[-1][3] += decision.extension_infusions
            continue
        out[-1][2] = decision.decided_at
        out.append([decision.to_phase, decision.decided_at, end, 0])
    return [tuple(s) for s in out]  # type: ignore[misc]


def _weekday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _visit_days(course: TreatmentCourse, end: datetime) -> list[tuple[str, date, datetime]]:
    """The local days of the course's infusions before `end`, with the phase and its end."""
    protocol = course.protocol
    tz = course.patient.home_location.tzinfo
    days: list[tuple[str, date, datetime]] = []
    for phase, start, stop, extension in _segments(course, end):
        first = start.astimezone(tz).date()
        if phase == Phase.INDUCTION:  # PROT-10 (+ PROT-23)
            count, step, offset = protocol.induction_count + extension, 0, 0
            step = protocol.induction_interval_days
        elif phase == Phase.MAINTENANCE:  # PROT-30
            step = protocol.maintenance_interval_days
            count, offset = 1000, 1
        else:
            continue
        for n in range(count):
            day = _weekday(first + timedelta(days=step * (n + offset)))
            if _at(day, time.min, course.patient.home_location) >= stop:
                break
            days.append((phase, day, stop))
    return days


def _order_for(course: TreatmentCourse, at: datetime) -> DosingOrder | None:
    """The course's order in force at `at` (the latest signed by then, else the first)."""
    signed = DosingOrder.objects.filter(course=course, status=OrderStatus.SIGNED)
    if not signed.exists():
        signed = DosingOrder.objects.filter(
            patient=course.patient,
            course__isnull=True,
            indication=course.indication,
            status=OrderStatus.SIGNED,
        )
    return (
        signed.filter(signed_at__lte=at).order_by("-signed_at", "-pk").first()
        or signed.order_by("signed_at", "pk").first()
    )


def _slot(
    course: TreatmentCourse, order: DosingOrder, day: date, stop: datetime
) -> datetime | None:
    location = course.patient.home_location
    length = scheduling.appointment_length(AppointmentKind.INFUSION)
    for clock in PAIN_SLOTS if order.duration_min > 120 else SLOTS:
        starts = _at(day, clock, location)
        ends = starts + length
        if ends + timedelta(minutes=order.duration_min) >= stop:
            continue
        chair = scheduling.free_chair(location=location, starts_at=starts, ends_at=ends)
        if chair is None:
            continue
        if not scheduling.booking_problems(
            location=location,
            kind=AppointmentKind.INFUSION,
            starts_at=starts,
            ends_at=ends,
            chair=chair,
            patient=course.patient,
        ):
            return starts
    return None


def _book_ahead(staff: Staff, report: Report) -> None:
    """The next infusion of each course still in induction (PROT-10) or maintenance (PROT-30),
    booked now for the coming weeks; a patient already booked ahead is left as they are."""
    for course in _courses():
        if course.phase not in (Phase.INDUCTION, Phase.MAINTENANCE):
            continue
        patient, protocol = course.patient, course.protocol
        location = patient.home_location
        today = timezone.localdate(timezone=location.tzinfo)
        if Appointment.objects.filter(
            patient=patient,
            status=AppointmentStatus.BOOKED,
            starts_at__gte=_at(today, time.min, location),
        ).exists():
            continue
        done = Appointment.objects.filter(course=course, status=AppointmentStatus.COMPLETED)
        last = done.order_by("-starts_at").first()
        if last is None:
            continue
        if course.phase == Phase.INDUCTION:
            given = done.filter(starts_at__gte=course.phase_started_at).count()
            if given >= protocol.induction_count + course.extension_infusions_used:
                continue  # the prescriber's decision comes first (PROT-21..24)
            interval = protocol.induction_interval_days
        else:
            interval = protocol.maintenance_interval_days
        day = _local(last.starts_at, location).date() + timedelta(days=interval)
        day = _weekday(max(day, today + timedelta(days=1)))
        order = _order_for(course, timezone.now())
        if order is None or day > today + timedelta(days=35):
            continue
        starts = _slot(course, order, day, _at(day, time.max, location) + timedelta(days=1))
        if starts is None:
            continue
        try:
            with transaction.atomic():
                scheduling.appointment_series_book(
                    actor=staff.front_desk,
                    patient=patient,
                    location=location,
                    starts=[starts],
                    course=course,
                )
        except REFUSED as exc:
            report.skipped.append(f"{patient.mrn} ahead: {exc}")


def _plan(
    staff: Staff, rng: random.Random, report: Report, today_local: date | None
) -> list[Visit]:
    visits: list[Visit] = []
    for index, course in enumerate(_courses()):
        patient = course.patient
        location = patient.home_location
        today = today_local or timezone.localdate(timezone=location.tzinfo)
        end = _at(today, time.min, location)
        if Appointment.objects.filter(course=course, starts_at__lt=end).exists():
            continue  # built already (idempotent)
        if safety_alerts_open(patient=patient):
            # SCALE-4: pre-checks refuse every infusion while an item-9 alert is open.
            report.skipped.append(f"{patient.mrn}: open PHQ-9 item 9 alert (SCALE-4)")
            continue
        may, reasons = patient_may_be_booked(patient=patient)
        if not may:
            report.skipped.append(f"{patient.mrn}: {' '.join(reasons)}")
            continue
        earliest = end - timedelta(days=HISTORY_DAYS)
        by_segment: dict[datetime, list[tuple[datetime, DosingOrder]]] = defaultdict(list)
        for _phase, day, stop in _visit_days(course, end):
            if _at(day, time.min, location) < earliest:
                continue
            order = _order_for(course, _at(day, time(12), location))
            if order is None:
                continue
            starts = _slot(course, order, day, stop)
            if starts is None:
                report.skipped.append(f"{patient.mrn}: no free slot on {day}")
                continue
            by_segment[stop].append((starts, order))
        if not by_segment:
            continue
        report.courses += 1
        sell = index % 3 == 0
        for number, (_stop, planned) in enumerate(sorted(by_segment.items())):
            try:
                with transaction.atomic():
                    booked = scheduling.appointment_series_book(
                        actor=staff.front_desk,
                        patient=patient,
                        location=location,
                        starts=[s for s, _ in planned],
                        course=course,
                        now=planned[0][0] - timedelta(days=3),
                    )
            except REFUSED as exc:
                report.skipped.append(f"{patient.mrn}: {exc}")
                continue
            for n, (appointment, (_s, order)) in enumerate(zip(booked, planned, strict=True)):
                roll = rng.random()
                visits.append(
                    Visit(
                        appointment=appointment,
                        course=course,
                        order=order,
                        nurse=staff.nurse(location, rng),
                        prescriber=staff.prescriber,
                        bp_alert=0.90 <= roll < 0.96,
                        side_effect=(
                            rng.choice([("AE-4", 1), ("AE-3", 1), ("AE-5", 1), ("AE-2", 2)])
                            if roll < 0.18
                            else None
                        ),
                        waste=0.18 <= roll < 0.26,
                        pay=rng.random() < 0.85,
                        sell_package=sell and number == 0 and n == 0,
                    )
                )
    # One paused infusion (MON-BP-3): the middle visit of the history.
    if visits and not InfusionSession.objects.filter(pump__action="pause").exists():
        middle = sorted(visits, key=lambda v: v.appointment.starts_at)[len(visits) // 2]
        middle.bp_pause, middle.bp_alert, middle.waste = True, False, True
    return visits


# --- One session ------------------------------------------------------------------------------


def _vitals(rng: random.Random, base: dict[str, int], **over: int) -> dict[str, Any]:
    reading = {
        "systolic_mmhg": base["systolic_mmhg"] + rng.randint(-6, 8),
        "diastolic_mmhg": base["diastolic_mmhg"] + rng.randint(-4, 6),
        "heart_rate_bpm": base["heart_rate_bpm"] + rng.randint(-5, 8),
        "spo2_pct": rng.choice([97, 98, 98, 99]),
        "respiratory_rate": rng.choice([12, 14, 14, 16]),
        **over,
    }
    return reading


def _baseline(rng: random.Random) -> dict[str, int]:
    # Below MON-BP-1 so the gate is open; in range for every MON-* rule.
    return {
        "systolic_mmhg": rng.randint(110, 126),
        "diastolic_mmhg": rng.randint(68, 78),
        "heart_rate_bpm": rng.randint(62, 80),
    }


def _questionnaires(visit_patient: Any, order: DosingOrder, nurse: User, at: datetime) -> None:
    """PROT-14: the visit's scales, filled in before check-in. A scale the history has not given
    on this day is carried forward from the nearest one (never one raising SCALE-4)."""
    location = visit_patient.home_location
    day = _local(at, location).date()
    start = _at(day, time.min, location)
    codes = list(dict.fromkeys(conf("questionnaires_always")))
    if order.indication == "pain":
        codes += [c for c in conf("questionnaires_pain") if c not in codes]
    codes += [
        a.instrument_code
        for a in assignments_active(patient=visit_patient)
        if a.instrument_code not in codes
    ]
    for code in codes:
        mine = Assessment.objects.filter(
            patient=visit_patient, instrument__code=code, status=AssessmentStatus.SUBMITTED
        )
        if mine.filter(completed_at__gte=start, completed_at__lt=start + timedelta(1)).exists():
            continue
        spec = instrument_current(code=code).spec
        answers: list[int] = [0] * len(spec.items)
        nearest = sorted(mine, key=lambda a: abs((a.completed_at - at).total_seconds()))
        for earlier in nearest:
            if not scoring.triggered_alerts(spec, earlier.answers):
                answers = list(earlier.answers)
                break
        assessment_submit(
            actor=nurse,
            patient=visit_patient,
            instrument_code=code,
            answers=answers,
            completed_at=at,
        )


def _ack_open(session: InfusionSession, actor: User, at: datetime, note: str) -> None:
    for alert in VitalAlert.objects.filter(session=session, acknowledged_at__isnull=True):
        infusions.alert_acknowledge(actor=actor, alert=alert, note=note, at=at)


def _facility_check(visit: Visit, at: datetime) -> None:
    """PRE-7: the day's facility check at the location, by the day's nurse, before its first
    infusion starts."""
    location = visit.appointment.location
    if facility_check_today(location=location, at=at) is None:
        facility_check_record(
            actor=visit.nurse,
            location=location,
            airway_prescriber=visit.prescriber,
            acls_clinician=visit.nurse,
            airway_equipment_checked=True,
            resuscitation_drugs_checked=True,
            at=at,
        )


def _start(
    visit: Visit, staff: Staff, ledger: Ledger, rng: random.Random, t0: datetime
) -> tuple[InfusionSession, dict[str, int], LedgerEntry]:
    """Open, check in, first vitals, draw and pre-checks; returns at the pre-checks."""
    appointment, nurse, order = visit.appointment, visit.nurse, visit.order
    patient = appointment.patient
    _questionnaires(patient, order, nurse, t0 - timedelta(minutes=20))
    session = infusions.session_create(
        actor=nurse,
        patient=patient,
        order=order,
        location=appointment.location,
        scheduled_at=appointment.starts_at,
        appointment=appointment,
    )
    infusions.session_check_in(
        actor=nurse,
        session=session,
        identity_confirmed=True,
        escort_name=patient.emergency_contact_name or f"{patient.family_name} family",
        escort_phone=patient.emergency_contact_phone or "555-0100-000",
        at=t0,
    )
    base = _baseline(rng)
    infusions.vital_record(
        actor=nurse,
        session=session,
        taken_at=t0 + timedelta(minutes=6),
        sedation=5,
        dissociation=0,
        **{**_vitals(rng, base), **base},
    )
    running = timedelta(minutes=order.duration_min)
    qty = pump_ml(order, running, ledger.product)
    if visit.waste:  # drawn in whole 0.5 mL, the rest wasted after the infusion
        qty = (qty * 2).to_integral_value(rounding=ROUND_CEILING) / 2 + Decimal("0.5")
    draw = ledger.draw(session, qty.quantize(Decimal("0.01")), nurse, t0 + timedelta(minutes=9))
    _facility_check(visit, t0)
    infusions.session_precheck_record(
        actor=nurse,
        session=session,
        fasting_confirmed=True,
        pregnancy_test="negative" if patient.sex_at_birth == "female" else "not_applicable",
        weight_kg=order.weight_kg,
        at=t0 + timedelta(minutes=12),
    )
    return session, base, draw


def _infuse(
    visit: Visit,
    session: InfusionSession,
    base: dict[str, int],
    rng: random.Random,
    start: datetime,
    until: datetime | None = None,
) -> datetime | None:
    """Start the pump and run it, with readings every MON-T2 interval and at the end (MON-T3);
    returns the stop time (None when `until` comes first: still infusing or paused)."""
    nurse, prescriber = visit.nurse, visit.prescriber
    order = visit.order
    infusions.pump_event_record(actor=nurse, session=session, action="start", at=start)
    step = timedelta(minutes=conf("interval_infusing_min"))
    left = timedelta(minutes=order.duration_min)
    clock, readings = start, []
    pause_at = start + timedelta(minutes=20) if visit.bp_pause else None
    alert_at = start + timedelta(minutes=20) if visit.bp_alert else None
    effect_at = start + timedelta(minutes=15) if visit.side_effect else None
    infusing_over = {"sedation": 5, "dissociation": 1}

    def flush() -> None:
        if readings:
            infusions.vitals_record_batch(actor=nurse, session=session, readings=list(readings))
            readings.clear()

    last = start  # the last reading (MON-T2 counts from it, paused or not)
    while left > timedelta(0):
        nxt = min(left, last + step - clock)
        if until is not None and clock + nxt > until:
            flush()
            if visit.side_effect and effect_at and effect_at <= until:
                _side_effect(visit, session, effect_at, resolve_at=None)
            return None
        clock, left, last = clock + nxt, left - nxt, clock + nxt
        if pause_at and clock >= pause_at:
            # MON-BP-3: a reading at or above the stop threshold pauses the pump.
            readings.append(
                {
                    **_vitals(rng, base, **infusing_over),
                    "systolic_mmhg": conf("bp_stop_systolic_mmhg") + 6,
                    "diastolic_mmhg": conf("bp_stop_diastolic_mmhg") + 4,
                    "taken_at": clock,
                }
            )
            flush()
            infusions.pump_event_record(
                actor=nurse,
                session=session,
                action="pause",
                reason="MON-BP-3: BP at the stop threshold; prescriber notified.",
                at=clock,
            )
            last = clock + timedelta(minutes=5)  # the recheck in 5 min
            infusions.vital_record(
                actor=nurse,
                session=session,
                taken_at=last,
                **_vitals(rng, base, systolic_mmhg=base["systolic_mmhg"] + 22, **infusing_over),
            )
            _ack_open(
                session,
                prescriber,
                clock + timedelta(minutes=8),
                "Recheck in 5 min lower, no symptoms: resume at the same rate (MON-BP-7).",
            )
            resumed = clock + timedelta(minutes=10)
            infusions.pump_event_record(
                actor=prescriber,
                session=session,
                action="resume",
                reason="Prescriber's order after the recheck.",
                at=resumed,
            )
            clock, pause_at = resumed, None
            continue
        if alert_at and clock >= alert_at:
            # MON-BP-5: a rise from the baseline, acknowledged; it settles at the next reading.
            readings.append(
                {
                    **_vitals(rng, base, **infusing_over),
                    "systolic_mmhg": base["systolic_mmhg"] + conf("bp_rise_systolic_mmhg") + 2,
                    "diastolic_mmhg": base["diastolic_mmhg"] + 12,
                    "taken_at": clock,
                }
            )
            flush()
            _ack_open(
                session,
                nurse,
                clock + timedelta(minutes=2),
                "Rechecked, no symptoms; prescriber informed, watching the trend (MON-BP-7).",
            )
            alert_at = None
            continue
        readings.append({**_vitals(rng, base, **infusing_over), "taken_at": clock})
        if effect_at and clock >= effect_at:
            flush()
            resolve = None if until is not None else clock + timedelta(minutes=25)
            _side_effect(visit, session, effect_at, resolve_at=resolve)
            effect_at = None
    flush()
    infusions.pump_event_record(actor=nurse, session=session, action="stop", at=clock)
    return clock


def _side_effect(
    visit: Visit, session: InfusionSession, at: datetime, resolve_at: datetime | None
) -> None:
    code, grade = visit.side_effect  # type: ignore[misc]
    effect = infusions.side_effect_record(
        actor=visit.nurse,
        session=session,
        code=code,
        grade=grade,
        onset_at=at,
        note="Reassured; lights dimmed." if grade == 1 else "Eased after a short rest.",
    )
    _ack_open(session, visit.nurse, at + timedelta(minutes=1), "Assessed at the chair.")
    if resolve_at is not None:
        infusions.side_effect_resolve(actor=visit.nurse, effect=effect, at=resolve_at)


def _recover(
    visit: Visit,
    session: InfusionSession,
    base: dict[str, int],
    rng: random.Random,
    stopped: datetime,
    until: datetime | None = None,
) -> datetime:
    """Readings every MON-T4 interval for the minimum observation (MON-T5)."""
    step = timedelta(minutes=conf("interval_recovering_min"))
    end = stopped + timedelta(minutes=conf("min_observation_min"))
    readings = []
    clock = stopped + step
    while clock <= end and (until is None or clock <= until):
        readings.append({**_vitals(rng, base, sedation=5, dissociation=0), "taken_at": clock})
        clock += step
    if readings:
        infusions.vitals_record_batch(actor=visit.nurse, session=session, readings=readings)
    return end


def _finish(
    visit: Visit,
    session: InfusionSession,
    staff: Staff,
    ledger: Ledger,
    draw: LedgerEntry,
    stopped: datetime,
    observed: datetime,
) -> None:
    """Administration and waste, discharge scores (DIS-1/2), discharge (DIS-3), the signed note,
    the appointment completed, its invoice and payment."""
    nurse, appointment = visit.nurse, visit.appointment
    ledger.close_dose(draw, nurse, stopped + timedelta(minutes=2))
    padss = dict(GOOD_PADSS)
    if visit.side_effect and visit.side_effect[0] == "AE-4":
        padss["pain_nausea"] = 1  # DIS-2 total 9 still discharges
    infusions.discharge_score_record(
        actor=nurse,
        session=session,
        aldrete=GOOD_ALDRETE,
        padss=padss,
        at=observed - timedelta(minutes=1),
    )
    discharged = observed + timedelta(minutes=2)
    session.refresh_from_db()
    infusions.session_discharge(
        actor=nurse, session=session, escort_name=session.escort_name, at=discharged
    )
    appointment.refresh_from_db()
    if appointment.status == AppointmentStatus.BOOKED:
        scheduling.appointment_complete(
            actor=staff.front_desk, appointment=appointment, at=discharged
        )
    note = infusions.note_generate(
        actor=nurse, session=session, at=discharged + timedelta(minutes=10)
    )
    infusions.note_sign(actor=nurse, note=note, at=discharged + timedelta(minutes=12))
    infusions.note_sign(
        actor=staff.prescriber, note=note, at=_cap(discharged + timedelta(minutes=95))
    )
    _bill(visit, staff, discharged + timedelta(minutes=15))


def _bill(visit: Visit, staff: Staff, at: datetime) -> None:
    appointment = visit.appointment
    patient, location = appointment.patient, appointment.location
    if visit.sell_package and not PackagePurchase.objects.filter(patient=patient).exists():
        plan = PackagePlan.objects.get(location=location, name=PACKAGE["name"])
        purchase = billing.package_sell(
            actor=staff.front_desk, patient=patient, plan=plan, at=at - timedelta(minutes=5)
        )
        billing.payment_record(
            actor=staff.front_desk,
            invoice=purchase.invoice,
            amount=plan.price,
            method="card",
            reference="demo",
            at=at - timedelta(minutes=4),
        )
    invoice = billing.invoice_create(
        actor=staff.front_desk,
        appointment=appointment,
        lines=[billing.LineInput("J3490", 1)],
        rendering_provider=staff.prescriber,
    )
    balance = invoice_figures(invoice).balance
    if visit.pay and balance > 0:
        billing.payment_record(
            actor=staff.front_desk,
            invoice=invoice,
            amount=balance,
            method="card" if balance > 100 else "cash",
            reference="demo",
            at=at,
        )


def _past_session(visit: Visit, staff: Staff, ledger: Ledger) -> InfusionSession:
    rng = random.Random(f"{SEED}-{visit.appointment.pk}")  # noqa: S311
    t0 = visit.appointment.starts_at + timedelta(minutes=rng.randint(0, 6))
    session, base, draw = _start(visit, staff, ledger, rng, t0)
    stopped = _infuse(visit, session, base, rng, t0 + timedelta(minutes=15))
    if stopped is None:  # pragma: no cover - without `until` the pump always stops
        raise RuntimeError("the infusion did not stop")
    observed = _recover(visit, session, base, rng, stopped)
    _finish(visit, session, staff, ledger, draw, stopped, observed)
    return session


__all__ = ["Report", "visits_build"]
