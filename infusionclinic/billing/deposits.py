"""Deposits taken online when an appointment is booked (issue 19).

`BILLING_DEPOSITS` says, per location and appointment kind, what a booking needs (default: a
consultation $0, the patient's first infusion $100); only with Stripe set up. A booking that needs
one is made as usual and holds its slot for `BILLING_DEPOSIT_HOLD_MINUTES` (30) with a `Deposit`
awaiting payment. Stripe's webhook marks it paid (the slot stays booked). Unpaid, the hold
expires: the booking checks treat it as free at once (scheduling's overlap query leaves expired
holds out), and `deposits_release_expired` — run by the next booking at the location and by the
periodic task — cancels the appointment. A payment arriving after the release is refunded at once.
When the visit's invoice is created, the deposit becomes a payment on it (anything over the
invoice's total is refunded through Stripe)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_at_location
from infusionclinic.scheduling.models import Appointment, AppointmentKind, AppointmentStatus

from . import online
from .models import (
    CheckoutPurpose,
    CheckoutSession,
    CheckoutStatus,
    Deposit,
    DepositStatus,
    Invoice,
    Payment,
    PaymentKind,
    PaymentMethod,
)
from .money import ZERO, cents
from .selectors import invoice_figures

FIRST_INFUSION = "first_infusion"


def _is_first_infusion(appointment: Appointment) -> bool:
    return (
        not Appointment.objects.filter(
            patient=appointment.patient,
            kind=AppointmentKind.INFUSION,
            status__in=[AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED],
            starts_at__lt=appointment.starts_at,
        )
        .exclude(pk=appointment.pk)
        .exists()
    )


def deposit_amount(appointment: Appointment) -> Decimal:
    """What this booking needs as a deposit (0: none)."""
    table: dict[str, dict[str, str]] = settings.BILLING_DEPOSITS or {}
    rules = {**table.get("*", {}), **table.get(appointment.location.code, {})}
    kind = appointment.kind
    if (
        kind == AppointmentKind.INFUSION
        and FIRST_INFUSION in rules
        and _is_first_infusion(appointment)
    ):
        kind = FIRST_INFUSION
    return cents(Decimal(str(rules.get(kind, "0"))))


def deposit_hold(*, actor: User, appointment: Appointment) -> Deposit | None:
    """Called by the booking path right after the appointment is created (same transaction): hold
    the slot for the deposit if one is needed."""
    if not online.stripe_configured():
        return None
    amount = deposit_amount(appointment)
    if amount <= ZERO:
        return None
    now = timezone.now()
    deposit = Deposit.objects.create(
        appointment=appointment,
        amount=amount,
        hold_until=now + timedelta(minutes=settings.BILLING_DEPOSIT_HOLD_MINUTES),
        created_by=actor,
        created_at=now,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=appointment.patient,
        obj=deposit,
        detail={
            "appointment": appointment.pk,
            "amount": str(amount),
            "hold_until": deposit.hold_until.isoformat(),
        },
    )
    return deposit


def deposits_release_expired(
    *, location: Location | None = None, now: datetime | None = None
) -> int:
    """Cancel the appointments whose deposit was not paid in time; returns how many."""
    now = now or timezone.now()
    expired = Deposit.objects.select_for_update().filter(
        status=DepositStatus.PENDING, hold_until__lte=now
    )
    if location is not None:
        expired = expired.filter(appointment__location=location)
    released = 0
    with transaction.atomic():
        for deposit in expired.select_related("appointment__patient"):
            appointment = deposit.appointment
            deposit.status = DepositStatus.RELEASED
            deposit.save(update_fields=["status"])
            if appointment.status == AppointmentStatus.BOOKED:
                appointment.status = AppointmentStatus.CANCELLED
                appointment.status_reason = (
                    f"Deposit not paid within {settings.BILLING_DEPOSIT_HOLD_MINUTES} minutes: "
                    "the slot was released."
                )
                appointment.status_changed_at = now
                appointment.save(update_fields=["status", "status_reason", "status_changed_at"])
            audit_record(
                actor=None,
                action=AuditAction.UPDATE,
                patient=appointment.patient,
                obj=deposit,
                detail={"status": "released", "appointment": appointment.pk},
            )
            released += 1
    return released


def _may_pay(actor: User, deposit: Deposit) -> None:
    appointment = deposit.appointment
    if actor.role == Role.PATIENT:
        if getattr(actor, "patient", None) != appointment.patient:
            raise PermissionDenied
        return
    if not actor.has_role_perm(Perm.BILLING_MANAGE):
        raise PermissionDenied
    require_at_location(actor, appointment.location_id)


@transaction.atomic
def deposit_checkout_start(
    *, actor: User, deposit: Deposit, success_url: str, cancel_url: str
) -> online.Checkout:
    """Stripe's hosted page for the deposit, while the hold lasts (a payment that arrives after
    the release is refunded at once)."""
    _may_pay(actor, deposit)
    deposit = Deposit.objects.select_for_update().select_related("appointment").get(pk=deposit.pk)
    if deposit.status != DepositStatus.PENDING or deposit.hold_until <= timezone.now():
        raise ValidationError("This deposit is no longer due (paid, or the slot was released).")
    if deposit.checkout and deposit.checkout.status == CheckoutStatus.OPEN:
        return online.Checkout(session=deposit.checkout, reused=True)
    appointment = deposit.appointment
    session = online._open_hosted_page(  # noqa: SLF001 (same app)
        actor=actor,
        patient=appointment.patient,
        amount=deposit.amount,
        name=f"{settings.CLINIC_NAME} booking deposit",
        reference=f"deposit-{deposit.pk}",
        metadata={"deposit": str(deposit.pk), "purpose": "deposit"},
        # A new key after an expired page (Stripe would answer a repeated key with the old page).
        idempotency_key=f"checkout-deposit-{deposit.pk}-"
        f"{deposit.checkout.session_id if deposit.checkout else 'first'}",
        expires_at=deposit.hold_until,
        success_url=success_url,
        cancel_url=cancel_url,
        purpose=CheckoutPurpose.DEPOSIT,
    )
    deposit.checkout = session
    deposit.save(update_fields=["checkout"])
    return online.Checkout(session=session, reused=False)


def _refund_at_stripe(intent: str, *, key: str) -> str:
    try:
        refund = online._client().v1.refunds.create(  # noqa: SLF001
            params={"payment_intent": intent}, options={"idempotency_key": key}
        )
    except stripe.StripeError as error:
        raise online._processor_error(error) from error  # noqa: SLF001
    return refund.id


@transaction.atomic
def deposit_refund(*, actor: User, deposit: Deposit) -> Deposit:
    """An admin gives back a paid deposit that no invoice used (e.g. the appointment was
    cancelled), in full, through Stripe. Once: a refunded deposit is refused."""
    if actor.role != Role.ADMIN or not actor.has_role_perm(Perm.BILLING_MANAGE):
        raise PermissionDenied
    deposit = Deposit.objects.select_for_update().select_related("appointment").get(pk=deposit.pk)
    require_at_location(actor, deposit.appointment.location_id)
    if deposit.status != DepositStatus.PAID or deposit.applied_payment_id:
        raise ValidationError(
            "Only a paid deposit not yet applied to an invoice is refunded here "
            "(an applied one is refunded from its invoice)."
        )
    deposit.refund_id = _refund_at_stripe(
        deposit.payment_intent_id, key=f"deposit-refund-{deposit.pk}"
    )
    deposit.status, deposit.refunded_at = DepositStatus.REFUNDED, timezone.now()
    deposit.save(update_fields=["refund_id", "status", "refunded_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=deposit.appointment.patient,
        obj=deposit,
        detail={"status": "refunded", "amount": str(deposit.amount), "refund": deposit.refund_id},
    )
    return deposit


def deposit_paid(*, session: CheckoutSession, intent: str, amount: Decimal) -> str:
    """Webhook: the deposit's page was paid. Once: the deposit row is locked and keeps the
    payment intent."""
    deposit = (
        Deposit.objects.select_for_update()
        .select_related("appointment__patient")
        .filter(checkout=session)
        .first()
    )
    if deposit is None:
        return "unknown deposit"
    if deposit.payment_intent_id:
        return "deposit already recorded"
    now = timezone.now()
    session.status, session.completed_at, session.payment_intent_id = (
        CheckoutStatus.COMPLETE,
        now,
        intent,
    )
    session.save(update_fields=["status", "completed_at", "payment_intent_id"])
    deposit.payment_intent_id, deposit.paid_at = intent, now
    outcome = "deposit paid: slot confirmed"
    if deposit.status == DepositStatus.PENDING and amount == deposit.amount:
        deposit.status = DepositStatus.PAID
    else:
        # Paid after the slot was released (or a different amount): give it back at once.
        deposit.refund_id = _refund_at_stripe(intent, key=f"deposit-late-{deposit.pk}")
        deposit.status, deposit.refunded_at = DepositStatus.REFUNDED, now
        outcome = "deposit paid after the slot was released: refunded"
    deposit.save(
        update_fields=["payment_intent_id", "paid_at", "status", "refund_id", "refunded_at"]
    )
    audit_record(
        actor=None,
        action=AuditAction.UPDATE,
        patient=deposit.appointment.patient,
        obj=deposit,
        detail={
            "status": deposit.status,
            "amount": str(amount),
            "payment_intent": intent,
            "appointment": deposit.appointment_id,
        },
    )
    return outcome


def deposit_apply(*, invoice: Invoice) -> Payment | None:
    """Called when the visit's invoice is created: the paid deposit becomes a card payment on it,
    dated when it was paid; the part over the invoice's total is refunded through Stripe."""
    if invoice.appointment_id is None:
        return None
    deposit = (
        Deposit.objects.select_for_update()
        .filter(
            appointment_id=invoice.appointment_id,
            status=DepositStatus.PAID,
            applied_payment__isnull=True,
        )
        .first()
    )
    if deposit is None:
        return None
    balance = invoice_figures(invoice).balance
    payment = Payment.objects.create(
        invoice=invoice,
        kind=PaymentKind.PAYMENT,
        method=PaymentMethod.CARD,
        amount=deposit.amount,
        provider=online.PROVIDER,
        reference=deposit.payment_intent_id,
        note="Deposit paid online at booking",
        recorded_by=None,
        recorded_at=deposit.paid_at,
    )
    deposit.applied_payment = payment
    deposit.save(update_fields=["applied_payment"])
    audit_record(
        actor=None,
        action=AuditAction.CREATE,
        patient=invoice.patient,
        obj=payment,
        detail={
            "invoice": invoice.pk,
            "kind": "payment",
            "method": "card",
            "amount": str(deposit.amount),
            "provider": online.PROVIDER,
            "deposit": deposit.pk,
        },
    )
    excess = cents(deposit.amount - max(balance, ZERO))
    if excess > ZERO:
        online._refund_through_processor(  # noqa: SLF001
            actor=None,
            payment=payment,
            amount=excess,
            note="Deposit over the invoice's total returned",
            idempotency_key=f"deposit-excess-{deposit.pk}",
        )
    return payment


def deposits_for(appointments: Any) -> dict[int, Deposit]:
    return {d.appointment_id: d for d in Deposit.objects.filter(appointment__in=appointments)}
