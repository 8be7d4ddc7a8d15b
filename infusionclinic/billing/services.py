"""Writes of billing data. Each checks the actor's capability and location, validates, and writes
its audit event in the same transaction (STYLE.md habits 1-2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_at_location, require_role_perm
from infusionclinic.patients.models import Patient
from infusionclinic.patients.services import npi_is_valid
from infusionclinic.scheduling.models import Appointment, AppointmentStatus

from .catalogue import refusal
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
from .selectors import (
    InfusionTiming,
    infusion_timing,
    invoice_figures,
    payment_refunded,
    price_in_force,
)
from .units import infusion_code_units

MAX_UNITS = 24


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
    require_role_perm(actor, Perm.BILLING_MANAGE)
    require_at_location(actor, location)
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


def _infusion_lines(
    appointment: Appointment, listed: list[LineInput]
) -> tuple[list[LineInput], InfusionTiming | None]:
    """CODE-PX-R1: the infusion codes come from the session's pump record, never from the form.
    Staff list the other services; the timed codes (and the push code of a run of 15 min or
    less, CODE-PX1/PX3) are added from the pump's running time."""
    timed = set(
        BillableService.objects.filter(
            code__in=[line.code for line in listed], timed=True
        ).values_list("code", flat=True)
    )
    if timed:
        raise ValidationError(
            {
                "lines": [
                    f"{', '.join(sorted(timed))}: infusion codes come from the session's pump "
                    "record; list only the other services."
                ]
            }
        )
    timing = infusion_timing(appointment=appointment)
    if timing is None:
        return listed, None
    if not timing.stopped:
        raise ValidationError(
            {"appointment": ["The infusion has not been stopped: its time cannot be billed yet."]}
        )
    derived = [LineInput(code, units) for code, units in infusion_code_units(timing.running)]
    return [*listed, *derived], timing


def _package_to_redeem(patient: Patient, location: Location, service_ids: set[int]):  # noqa: ANN202
    purchases = (
        PackagePurchase.objects.select_for_update()
        .filter(patient=patient, plan__location=location, plan__service_id__in=service_ids)
        .order_by("created_at", "pk")
    )
    for purchase in purchases:
        used = purchase.redemptions.count()
        if used < purchase.sessions_total - purchase.sessions_released:
            return purchase
    return None


@transaction.atomic
def invoice_create(
    *,
    actor: User,
    appointment: Appointment,
    lines: list[LineInput],
    rendering_provider: User | None = None,
    use_package: bool = True,
) -> Invoice:
    """The invoice of one completed appointment, priced from the list in force on its date of
    service at its location. `lines` are the services staff bill; an infusion appointment's
    infusion codes and their units are added from its session's pump running time (CODE-PX-R1,
    PX1, PX2). A package with sessions left that covers one of the lines pays for one session of
    it (a credit of that line's unit price)."""
    require_role_perm(actor, Perm.BILLING_MANAGE)
    require_at_location(actor, appointment.location)
    appointment = (
        Appointment.objects.select_for_update().select_related("location").get(pk=appointment.pk)
    )
    errors: dict[str, list[str]] = {}
    if appointment.status != AppointmentStatus.COMPLETED:
        errors["appointment"] = ["Only a completed appointment is invoiced."]
    elif Invoice.objects.filter(appointment=appointment).exists():
        errors["appointment"] = ["This appointment already has an invoice."]
    if (
        rendering_provider is not None
        and not BillingProvider.objects.filter(user=rendering_provider).exists()
    ):
        errors["rendering_provider"] = ["This provider has no NPI on file."]
    if errors:
        raise ValidationError(errors)
    for line in lines:
        if refused := refusal(line.code):  # CODE-PX9, CODE-PX10
            raise ValidationError({"lines": [refused]})
        if not 1 <= line.units <= MAX_UNITS:
            raise ValidationError({"lines": [f"Units must be between 1 and {MAX_UNITS}."]})
    lines, timing = _infusion_lines(appointment, lines)
    if not lines:
        raise ValidationError({"lines": ["Add at least one service."]})
    if len({line.code for line in lines}) != len(lines):
        raise ValidationError({"lines": ["List each code once, with its units."]})

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
        infusion_session_id=timing.session_id if timing else None,
        date_of_service=service_date,
        rendering_provider=rendering_provider,
        infusion_started_at=timing.started_at if timing else None,
        infusion_stopped_at=timing.stopped_at if timing else None,
        infusion_running=timing.running if timing else None,
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
    from .deposits import deposit_apply  # issue 19: it imports online, which imports models

    deposit_payment = deposit_apply(invoice=invoice)
    figures = invoice_figures(invoice)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=invoice.patient,
        obj=invoice,
        detail={
            "appointment": appointment.pk,
            "lines": [[s.code, u, str(p.unit_price)] for s, u, p in priced],
            "infusion_running_seconds": (int(timing.running.total_seconds()) if timing else None),
            "package_purchase": redeemed,
            "package_credit": str(invoice.package_credit),
            "deposit_payment": deposit_payment.pk if deposit_payment else None,
            "total": str(figures.total),
        },
    )
    return invoice


@transaction.atomic
def package_sell(
    *,
    actor: User | None,
    patient: Patient,
    plan: PackagePlan,
    price: Decimal | None = None,
    paid_online: str = "",
    at: datetime | None = None,
) -> PackagePurchase:
    """Sell a package: its own invoice with one line at the package price; the sessions are
    consumed by later appointment invoices. Issue 19: a package bought online is sold by the
    processor's webhook (`actor=None`, `paid_online` = the checkout session id, `price` = what the
    patient paid), after the payment page checked who may buy it."""
    if actor is None:
        if not paid_online:
            raise PermissionDenied
    else:
        require_role_perm(actor, Perm.BILLING_MANAGE)
        require_at_location(actor, plan.location)
        if not plan.active:
            raise ValidationError({"plan": ["This package is no longer offered."]})
    price = plan.price if price is None else price
    today = (at or timezone.now()).astimezone(plan.location.tzinfo).date()
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
        unit_price=price,
    )
    purchase = PackagePurchase.objects.create(
        patient=patient, plan=plan, invoice=invoice, sessions_total=plan.sessions, created_by=actor
    )
    detail = {"plan": plan.pk, "price": str(price), "invoice": invoice.pk}
    if paid_online:
        detail["checkout"] = paid_online
    audit_record(
        actor=actor, action=AuditAction.CREATE, patient=patient, obj=purchase, detail=detail
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
    at: datetime | None = None,
) -> Payment:
    """Record money staff took. Never more than the balance: the balance does not go negative."""
    require_role_perm(actor, Perm.BILLING_MANAGE)
    require_at_location(actor, invoice.location)
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
        recorded_at=min(at, timezone.now()) if at else timezone.now(),
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
    *,
    actor: User,
    payment: Payment,
    amount: Decimal | str,
    reference: str = "",
    note: str = "",
    package_refund: bool = False,
) -> Payment:
    """Give money back against one payment; never more than that payment less its refunds."""
    invoice = Invoice.objects.select_for_update().get(pk=payment.invoice_id)
    require_role_perm(actor, Perm.BILLING_MANAGE)
    require_at_location(actor, invoice.location)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.kind != PaymentKind.PAYMENT:
        raise ValidationError({"payment": ["Refund a payment, not a refund."]})
    if payment.provider == "stripe":
        raise ValidationError(
            {"payment": ["This card payment was taken online: refund it through the processor."]}
        )
    if not package_refund and PackagePurchase.objects.filter(invoice=invoice).exists():
        # Issue 19: a package is refunded for its unused sessions only (`package_refund`).
        raise ValidationError(
            {"payment": ['Refund a package with "Refund unused sessions" on its invoice.']}
        )
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


def appointment_invoice_create(*, actor: User, appointment: Appointment) -> Invoice:
    """Issue 21 point 7, "Create invoice" in one click on a discharged infusion's appointment:
    `invoice_create` with no typed lines, so the CPT/HCPCS codes and units come from the
    session's pump running time alone (CODE-PX-R1, PX1, PX2, PX3; `units.py`), an active package
    that covers them applied, and as rendering provider the prescriber who signed the session's
    order when their NPI is on file (otherwise none, as on the billing page's default)."""
    from infusionclinic.infusions.models import InfusionSession

    if appointment.kind != "infusion":
        raise ValidationError(
            {"appointment": ["One-click invoicing is for infusions; list the services instead."]}
        )
    session = (
        InfusionSession.objects.filter(appointment=appointment).select_related("order").first()
    )
    if session is None:
        raise ValidationError({"appointment": ["This appointment has no infusion session."]})
    signer_id = session.order.signed_by_id
    provider = (
        BillingProvider.objects.select_related("user").filter(user_id=signer_id).first()
        if signer_id
        else None
    )
    return invoice_create(
        actor=actor,
        appointment=appointment,
        lines=[],
        rendering_provider=provider.user if provider else None,
        use_package=True,
    )


__all__ = [
    "appointment_invoice_create",
    "LineInput",
    "billing_provider_set",
    "invoice_create",
    "package_sell",
    "payment_record",
    "price_set",
    "refund_record",
]
