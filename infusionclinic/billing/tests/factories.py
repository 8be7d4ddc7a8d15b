"""Billing test data, written directly (no audit events)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from infusionclinic.accounts.models import Location, User
from infusionclinic.billing.models import BillableService, BillingProvider, PackagePlan, Price
from infusionclinic.dosing.models import DosingOrder
from infusionclinic.infusions.models import InfusionSession, PumpEvent
from infusionclinic.patients.models import Patient
from infusionclinic.scheduling.models import Appointment, Chair
from tests.factories import make_user

VALID_NPI = "1234567893"  # CMS's published example NPI (valid check digit)


def service(code: str) -> BillableService:
    return BillableService.objects.get(code=code)


def price(
    location: Location, code: str, amount: str, effective_from: date = date(2026, 1, 1)
) -> Price:
    return Price.objects.create(
        location=location,
        service=service(code),
        unit_price=Decimal(amount),
        effective_from=effective_from,
    )


def completed_appointment(
    patient: Patient,
    location: Location,
    *,
    day: date = date(2026, 3, 10),
    kind: str = "infusion",
    infusion_minutes: int | None = 45,
) -> Appointment:
    """A completed appointment; an infusion one has a session whose pump ran `infusion_minutes`
    without a pause (None: no session)."""
    starts = datetime(day.year, day.month, day.day, 10, 0, tzinfo=ZoneInfo(location.timezone))
    chair = (
        Chair.objects.get_or_create(location=location, name="Chair 1")[0]
        if kind == "infusion"
        else None
    )
    appointment = Appointment.objects.create(
        patient=patient,
        location=location,
        chair=chair,
        kind=kind,
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        status="completed",
    )
    if kind == "infusion" and infusion_minutes is not None:
        infusion_session(appointment, pump=[("start", 20), ("stop", 20 + infusion_minutes)])
    return appointment


def signed_order(patient: Patient, prescriber: User) -> DosingOrder:
    """A signed 0.5 mg/kg over 40 min order at 1 mg/mL (the figures do not matter to billing)."""
    return DosingOrder.objects.create(
        patient=patient,
        status="signed",
        indication="depression",
        weight_basis="actual",
        sex_for_dosing="female",
        weight_kg=Decimal("80.0"),
        weight_measured_on=date(2026, 1, 1),
        dosing_weight_kg=Decimal("80.0"),
        dose_mg_per_kg=Decimal("0.500"),
        duration_min=40,
        concentration_mg_per_ml=Decimal("1.000"),
        dose_mg=Decimal("40.0"),
        volume_ml=Decimal("40.0"),
        rate_ml_per_h=Decimal("60.0"),
        created_by=prescriber,
        signed_by=prescriber,
        signed_at=datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("UTC")),
    )


def infusion_session(
    appointment: Appointment,
    *,
    pump: list[tuple[str, float]],
    state: str = "discharged",
    nurse: User | None = None,
) -> InfusionSession:
    """The appointment's session with pump events at minutes after the appointment's start."""
    location = appointment.location
    nurse = nurse or make_user("nurse", location)
    prescriber = make_user("prescriber", location)
    session = InfusionSession.objects.create(
        patient=appointment.patient,
        location=location,
        appointment=appointment,
        order=signed_order(appointment.patient, prescriber),
        scheduled_at=appointment.starts_at,
        state=state,
        created_by=nurse,
    )
    PumpEvent.objects.bulk_create(
        PumpEvent(
            session=session,
            action=action,
            at=appointment.starts_at + timedelta(minutes=minutes),
            actor=nurse,
        )
        for action, minutes in pump
    )
    return session


def billing_provider(user: User, npi: str = VALID_NPI) -> BillingProvider:
    return BillingProvider.objects.create(
        user=user, display_name="Dana Prescriber", credentials="MD", npi=npi
    )


def package_plan(location: Location, *, sessions: int = 3, amount: str = "1200.00") -> PackagePlan:
    return PackagePlan.objects.create(
        location=location,
        name="Induction series",
        service=service("96365"),
        sessions=sessions,
        price=Decimal(amount),
    )
