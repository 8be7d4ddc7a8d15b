"""Writes of billing data. Each checks the actor's capability and location, validates, and writes
its audit event in the same transaction (STYLE.md habits 1-2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients.models import Patient
from infusionclinic.patients.services import npi_is_valid
from infusionclinic.scheduling.models import Appointment, AppointmentStatus

from .models import (
    BillableService,
    BillingProvider,
    Invoice,
    InvoiceLine,
    PackagePlan,
    PackagePurchase,
    PackageRedemption,
    Payment,
    PaymentKind,
    PaymentMethod,
    Price,
)
from .money import cents
from .providers import payment_provider
from .selectors import invoice_figures, payment_refunded, price_in_force

MAX_UNITS = 24
INFUSION_INITIAL = "96365"  # CODE-PX1
INFUSION_ADDED_HOUR = "96366"  # CODE-PX2


def _require(actor: User, location: Location) -> None:
    if not actor.has_role_perm(Perm.BILLING_MANAGE):
        raise PermissionDenied
    if not actor.locations.filter(pk=location.pk).exists():
        raise PermissionDenied


def _money(value: Decimal | str, field: str, *, positive: bool = True) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: ["Enter an amount in dollars and cents."]}) from None
    if not amount.is_finite() or amount != cents(amount):
        raise ValidationError({field: ["Enter an amount in dollars and cents."]})
    if amount < 0 or (positive and amount == 0):
        raise ValidationError({field: ["The amount must be more than zero."]})
    return amount


# --- Price list -------------------------------------------------------------------------------


@transaction.atomic
def price_set(
    *,
    actor: User,
    location: Location,
    service_code: str,
    unit_price: Decimal | str,
    effective_from: date,
) -> Price:
    """A new price from a date on; older rows stay, so past invoices keep their explanation."""
    _require(actor, location)
    service = BillableService.objects.filter(code=service_code, active=True).first()
    if service is None:
        raise ValidationError({"service": ["Unknown service code."]})
    amount = _money(unit_price, "unit_price", positive=False)
    if Price.objects.filter(
        location=location, service=service, effective_from=effective_from
    ).exists():
        raise ValidationError({"effective_from": ["A price already starts on that day."]})
    price = Price.objects.create(
        location=location,
        service=service,
        unit_price=amount,
        effective_from=effective_from,
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=price,
        detail={
            "service": service.code,
            "location": location.code,
            "unit_price": str(amount),
            "effective_from": effective_from.isoformat(),
        },
    )
    return price


# --- Rendering provider -----------------------------------------------------------------------


@transaction.atomic
def billing_provider_set(
    *, actor: User, user: User, display_name: str, npi: str, credentials: str = ""
) -> BillingProvider:
    if not actor.has_role_perm(Perm.BILLING_PROVIDER_EDIT):
        raise PermissionDenied
    errors: dict[str, list[str]] = {}
    if user.role != Role.PRESCRIBER:
        errors["user"] = ["Only a prescriber renders billed services."]
    npi = npi.strip()
    if not npi_is_valid(npi):
        errors["npi"] = ["An NPI is 10 digits with a valid check digit."]
    if not display_name.strip():
        errors["display_name"] = ["Enter the name printed on claims."]
    if errors:
        raise ValidationError(errors)
    provider, created = BillingProvider.objects.update_or_create(
        user=user,
        defaults={
            "display_name": display_name.strip(),
            "npi": npi,
            "credentials": credentials.strip(),
        },
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if created else AuditAction.UPDATE,
        obj=provider,
        detail={"user": user.pk, "npi": npi},
    )
    return provider


# --- Invoices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    code: str
    units: int


def _added_hours_allowed(duration: timedelta) -> int:
    """CODE-PX2: each additional hour counts when the infusion runs > 30 min beyond the previous
    hour mark (the first added hour needs > 30 min beyond the first hour)."""
    extra = duration - timedelta(hours=1)
    count = 0
    while extra > timedelta(minutes=30) + timedelta(hours=count):
        count += 1
    return count


def _check_timed_codes(
    lines: list[LineInput], started_at: datetime | None, stopped_at: datetime | None
) -> None:
    codes = {line.code: line.units for line in lines}
    timed = BillableService.objects.filter(code__in=codes, timed=True).values_list(
        "code", flat=True
    )
    if not timed:
        return
    # CODE-PX-R1: infusion codes need documented start and stop times.
    if started_at is None or stopped_at is None or stopped_at <= started_at:
        raise ValidationError(
            {"infusion_started_at": ["Infusion codes need the documented start and stop times."]}
        )
    duration = stopped_at - started_at
    if INFUSION_INITIAL in codes:
        if codes[INFUSION_INITIAL] != 1:
            raise ValidationError({"lines": [f"{INFUSION_INITIAL} is billed once per session."]})
        # CODE-PX1: an infusion of 15 minutes or less is a push, not an infusion.
        if duration <= timedelta(minutes=15):
            raise ValidationError(
                {"lines": [f"{INFUSION_INITIAL} needs an infusion longer than 15 minutes."]}
            )
    if INFUSION_ADDED_HOUR in codes:
        if INFUSION_INITIAL not in codes:
            raise ValidationError(
                {"lines": [f"{INFUSION_ADDED_HOUR} is an add-on to {INFUSION_INITIAL}."]}
            )
        if codes[INFUSION_ADDED_HOUR] > _added_hours_allowed(duration):
            raise ValidationError(
                {"lines": [f"The infusion is too short for that many {INFUSION_ADDED_HOUR} units."]}
            )


def _package_to_redeem(patient: Patient, location: Location, service_ids: set[int]):  # noqa: ANN202
    purchases = (
        PackagePurchase.objects.select_for_update()
        .filter(patient=patient, plan__location=location, plan__service_id__in=service_ids)
        .order_by("created_at", "pk")
    )
    for purchase in purchases:
        used = purchase.redemptions.count()
        if used < purchase.sessions_total:
            return purchase
    return None


@transaction.atomic
def invoice_create(
    *,
    actor: User,
    appointment: Appointment,
    lines: list[LineInput],
    rendering_provider: User | None = None,
    infusion_started_at: datetime | None = None,
    infusion_stopped_at: datetime | None = None,
    infusion_session_id: int | None = None,
    use_package: bool = True,
) -> Invoice:
    """The invoice of one completed appointment, priced from the list in force on its date of
    service at its location. A package with sessions left that covers one of the lines pays for
    one session of it (a credit of that line's unit price)."""
    _require(actor, appointment.location)
    appointment = (
        Appointment.objects.select_for_update().select_related("location").get(pk=appointment.pk)
    )
    errors: dict[str, list[str]] = {}
    if appointment.status != AppointmentStatus.COMPLETED:
        errors["appointment"] = ["Only a completed appointment is invoiced."]
    elif Invoice.objects.filter(appointment=appointment).exists():
        errors["appointment"] = ["This appointment already has an invoice."]
    if not lines:
        errors["lines"] = ["Add at least one service."]
    if (
        rendering_provider is not None
        and not BillingProvider.objects.filter(user=rendering_provider).exists()
    ):
        errors["rendering_provider"] = ["This provider has no NPI on file."]
    if errors:
        raise ValidationError(errors)
    if len({line.code for line in lines}) != len(lines):
        raise ValidationError({"lines": ["List each code once, with its units."]})
    for line in lines:
        if not 1 <= line.units <= MAX_UNITS:
            raise ValidationError({"lines": [f"Units must be between 1 and {MAX_UNITS}."]})
    _check_timed_codes(lines, infusion_started_at, infusion_stopped_at)

    location = appointment.location
    service_date = appointment.starts_at.astimezone(location.tzinfo).date()
    services = {s.code: s for s in BillableService.objects.filter(code__in=[x.code for x in lines])}
    priced: list[tuple[BillableService, int, Price]] = []
    for line in lines:
        service = services.get(line.code)
        if service is None or not service.active:
            raise ValidationError({"lines": [f"Unknown service code {line.code}."]})
        price = price_in_force(location=location, service=service, on=service_date)
        if price is None:
            raise ValidationError(
                {"lines": [f"No price for {service.code} at {location.name} on {service_date}."]}
            )
        priced.append((service, line.units, price))

    invoice = Invoice.objects.create(
        patient=appointment.patient,
        location=location,
        appointment=appointment,
        infusion_session_id=infusion_session_id,
        date_of_service=service_date,
        rendering_provider=rendering_provider,
        infusion_started_at=infusion_started_at,
        infusion_stopped_at=infusion_stopped_at,
        created_by=actor,
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            service=service,
            code=service.code,
            label=service.label,
            units=units,
            unit_price=price.unit_price,
            price=price,
        )
        for service, units, price in priced
    )
    redeemed = None
    if use_package:
        purchase = _package_to_redeem(
            appointment.patient, location, {service.pk for service, _, _ in priced}
        )
        if purchase is not None:
            unit_price = next(
                p.unit_price for s, _, p in priced if s.pk == purchase.plan.service_id
            )
            credit = cents(unit_price)
            PackageRedemption.objects.create(purchase=purchase, invoice=invoice, credit=credit)
            Invoice.objects.filter(pk=invoice.pk).update(package_credit=credit)
            invoice.package_credit = credit
            redeemed = purchase.pk
    figures = invoice_figures(invoice)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=invoice.patient,
        obj=invoice,
        detail={
            "appointment": appointment.pk,
            "lines": [[s.code, u, str(p.unit_price)] for s, u, p in priced],
            "package_purchase": redeemed,
            "package_credit": str(invoice.package_credit),
            "total": str(figures.total),
        },
    )
    return invoice


@transaction.atomic
def package_sell(*, actor: User, patient: Patient, plan: PackagePlan) -> PackagePurchase:
    """Sell a package: its own invoice with one line at the package price; the sessions are
    consumed by later appointment invoices."""
    _require(actor, plan.location)
    if not plan.active:
        raise ValidationError({"plan": ["This package is no longer offered."]})
    today = timezone.now().astimezone(plan.location.tzinfo).date()
    invoice = Invoice.objects.create(
        patient=patient,
        location=plan.location,
        date_of_service=today,
        created_by=actor,
    )
    InvoiceLine.objects.create(
        invoice=invoice,
        service=None,
        code="",
        label=f"Package: {plan.name} ({plan.sessions} x {plan.service.code})",
        units=1,
        unit_price=plan.price,
    )
    purchase = PackagePurchase.objects.create(
        patient=patient, plan=plan, invoice=invoice, sessions_total=plan.sessions, created_by=actor
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=purchase,
        detail={"plan": plan.pk, "price": str(plan.price), "invoice": invoice.pk},
    )
    return purchase


# --- Payments and refunds ---------------------------------------------------------------------


@transaction.atomic
def payment_record(
    *,
    actor: User,
    invoice: Invoice,
    amount: Decimal | str,
    method: str,
    reference: str = "",
    note: str = "",
) -> Payment:
    """Record money staff took. Never more than the balance: the balance does not go negative."""
    _require(actor, invoice.location)
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    value = _money(amount, "amount")
    if method not in PaymentMethod.values:
        raise ValidationError({"method": ["Choose cash, card or transfer."]})
    balance = invoice_figures(invoice).balance
    if value > balance:
        raise ValidationError({"amount": [f"The balance is {balance}; record at most that."]})
    result = payment_provider().capture(amount=value, method=method, reference=reference)
    payment = Payment.objects.create(
        invoice=invoice,
        kind=PaymentKind.PAYMENT,
        method=method,
        amount=value,
        provider=result.provider,
        reference=result.reference,
        note=note.strip(),
        recorded_by=actor,
        recorded_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=invoice.patient,
        obj=payment,
        detail={"invoice": invoice.pk, "kind": "payment", "method": method, "amount": str(value)},
    )
    return payment


@transaction.atomic
def refund_record(
    *, actor: User, payment: Payment, amount: Decimal | str, reference: str = "", note: str = ""
) -> Payment:
    """Give money back against one payment; never more than that payment less its refunds."""
    invoice = Invoice.objects.select_for_update().get(pk=payment.invoice_id)
    _require(actor, invoice.location)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.kind != PaymentKind.PAYMENT:
        raise ValidationError({"payment": ["Refund a payment, not a refund."]})
    value = _money(amount, "amount")
    refundable = payment.amount - payment_refunded(payment)
    if value > refundable:
        raise ValidationError({"amount": [f"At most {refundable} can be refunded."]})
    result = payment_provider().refund(amount=value, method=payment.method, reference=reference)
    refund = Payment.objects.create(
        invoice=invoice,
        kind=PaymentKind.REFUND,
        method=payment.method,
        amount=value,
        provider=result.provider,
        reference=result.reference,
        note=note.strip(),
        refund_of=payment,
        recorded_by=actor,
        recorded_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=invoice.patient,
        obj=refund,
        detail={"invoice": invoice.pk, "kind": "refund", "of": payment.pk, "amount": str(value)},
    )
    return refund


__all__ = [
    "LineInput",
    "billing_provider_set",
    "invoice_create",
    "package_sell",
    "payment_record",
    "price_set",
    "refund_record",
]
