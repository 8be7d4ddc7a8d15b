"""Billing test data, written directly (no audit events)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from infusionclinic.accounts.models import Location, User
from infusionclinic.billing.models import BillableService, BillingProvider, PackagePlan, Price
from infusionclinic.patients.models import Patient
from infusionclinic.scheduling.models import Appointment, Chair

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
    patient: Patient, location: Location, *, day: date = date(2026, 3, 10), kind: str = "infusion"
) -> Appointment:
    starts = datetime(day.year, day.month, day.day, 10, 0, tzinfo=ZoneInfo(location.timezone))
    chair = (
        Chair.objects.get_or_create(location=location, name="Chair 1")[0]
        if kind == "infusion"
        else None
    )
    return Appointment.objects.create(
        patient=patient,
        location=location,
        chair=chair,
        kind=kind,
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        status="completed",
    )


def infusion_times(appointment: Appointment, minutes: int = 45) -> dict[str, datetime]:
    start = appointment.starts_at + timedelta(minutes=20)
    return {"infusion_started_at": start, "infusion_stopped_at": start + timedelta(minutes=minutes)}


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
