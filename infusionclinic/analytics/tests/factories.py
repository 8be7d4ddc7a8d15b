"""A small, known clinic for the analytics tests, written as rows (no services, no audit)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from infusionclinic.accounts.models import Location, User
from infusionclinic.billing.models import Invoice, Payment
from infusionclinic.billing.tests.factories import signed_order
from infusionclinic.courses.models import Protocol, TreatmentCourse
from infusionclinic.infusions.models import (
    InfusionSession,
    PumpEvent,
    SideEffect,
    VitalAlert,
    VitalSign,
)
from infusionclinic.outcomes.models import Assessment, InstrumentDefinition
from infusionclinic.patients.models import Patient
from infusionclinic.scheduling.models import Appointment, Chair

UTC = ZoneInfo("UTC")


def local(location: Location, day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=location.tzinfo)


def appointment(
    patient: Patient,
    location: Location,
    start: datetime,
    minutes: int,
    status: str,
    *,
    chair: Chair | None = None,
    kind: str = "infusion",
) -> Appointment:
    return Appointment.objects.create(
        patient=patient,
        location=location,
        chair=chair,
        kind=kind,
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        status=status,
    )


def infusion(
    patient: Patient,
    location: Location,
    started: datetime | None,
    staff: User,
    *,
    minutes: int = 45,
    appointment: Appointment | None = None,
) -> InfusionSession:
    """A session whose pump ran `minutes` from `started` (no pump event when started is None)."""
    session = InfusionSession.objects.create(
        patient=patient,
        location=location,
        appointment=appointment,
        order=signed_order(patient, staff),
        scheduled_at=started or datetime(2026, 3, 9, 14, tzinfo=UTC),
        state="discharged" if started else "cancelled",
        created_by=staff,
    )
    if started is not None:
        PumpEvent.objects.create(session=session, action="start", at=started, actor=staff)
        PumpEvent.objects.create(
            session=session, action="stop", at=started + timedelta(minutes=minutes), actor=staff
        )
    return session


def side_effect(session: InfusionSession, staff: User, grade: int = 1) -> SideEffect:
    return SideEffect.objects.create(
        session=session,
        code="AE-1",
        grade=grade,
        onset_at=session.scheduled_at,
        recorded_by=staff,
    )


def vital_alert(session: InfusionSession, staff: User) -> VitalAlert:
    vital = VitalSign.objects.create(
        session=session,
        phase="infusion",
        taken_at=session.scheduled_at,
        systolic_mmhg=185,
        diastolic_mmhg=100,
        heart_rate_bpm=80,
        spo2_pct=97,
        respiratory_rate=14,
        recorded_by=staff,
    )
    return VitalAlert.objects.create(
        session=session,
        vital=vital,
        rule_id="MON-BP-3",
        level="alert",
        message="High BP",
        action="Pause the pump",
    )


def course(
    patient: Patient, indication: str, instrument: str, started: datetime, staff: User
) -> TreatmentCourse:
    protocol = Protocol.objects.filter(key=indication, clinic__isnull=True).order_by("-version")[0]
    return TreatmentCourse.objects.create(
        patient=patient,
        indication=indication,
        protocol=protocol,
        primary_instrument=instrument,
        started_at=started,
        phase_started_at=started,
        created_by=staff,
    )


def score(patient: Patient, instrument: str, total: int, completed: datetime) -> Assessment:
    definition = InstrumentDefinition.objects.filter(code=instrument).order_by("-version")[0]
    return Assessment.objects.create(
        patient=patient,
        instrument=definition,
        status="submitted",
        total=total,
        completed_at=completed,
        submitted_at=completed,
        administration="clinician",
    )


def payment(
    patient: Patient, location: Location, kind: str, amount: str, recorded: datetime
) -> Payment:
    invoice = Invoice.objects.create(
        patient=patient, location=location, date_of_service=recorded.date()
    )
    return Payment.objects.create(
        invoice=invoice,
        kind=kind,
        method="card",
        amount=Decimal(amount),
        provider="manual",
        recorded_at=recorded,
    )
