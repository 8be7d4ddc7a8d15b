"""Card payments through Stripe's hosted Checkout pages (issue 19), beside `ManualProvider`.

No card data reaches this server (PCI DSS SAQ A): the patient pays on Stripe's page, and what we
keep is Stripe's ids. What Stripe is told about the patient is the minimum for a receipt: the
e-mail address and the invoice number, never a service, a diagnosis or a name of a drug.

Money moves into the books only from Stripe's signed webhook (`webhook_handle`): the browser's
return to our page changes nothing. Each event id is stored once (`ProcessorEvent`), and each
payment intent and refund is recorded once (a unique constraint on `Payment`), so a repeated or
out-of-order delivery changes nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_at_location
from infusionclinic.patients.models import Patient

from .models import (
    CheckoutPurpose,
    CheckoutSession,
    CheckoutStatus,
    Invoice,
    InvoiceStatus,
    PackagePlan,
    PackagePurchase,
    Payment,
    PaymentKind,
    PaymentMethod,
    ProcessorCustomer,
    ProcessorEvent,
)
from .money import ZERO, cents
from .selectors import invoice_figures, package_sessions_left, payment_refunded

PROVIDER = "stripe"
# Stripe keeps a Checkout Session open for 24 h; we reuse one for a repeat click only while it
# has comfortably long to run.
CHECKOUT_REUSE = timedelta(hours=23)


class WebhookRejected(Exception):
    """The payload or its signature is not Stripe's: answer 400 and store nothing."""


def stripe_configured() -> bool:
    """Online payments are offered only when the clinic has set both keys."""
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET)


def _client() -> stripe.StripeClient:
    if not stripe_configured():
        raise ValidationError("Online card payments are not set up (STRIPE_SECRET_KEY).")
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2
    )


def _to_cents(amount: Decimal) -> int:
    return int(cents(amount) * 100)


def _from_cents(value: int) -> Decimal:
    return cents(Decimal(value) / 100)


def _processor_error(error: stripe.StripeError) -> ValidationError:
    message = getattr(error, "user_message", None) or "The card processor did not answer."
    return ValidationError(f"The card processor refused: {message}")


def _customer_id(patient: Patient) -> str:
    existing = ProcessorCustomer.objects.filter(patient=patient, provider=PROVIDER).first()
    if existing:
        return existing.customer_id
    params: dict[str, Any] = {"metadata": {"patient": str(patient.pk)}}
    if patient.email:
        params["email"] = patient.email
    customer = _client().v1.customers.create(
        params=params, options={"idempotency_key": f"customer-{patient.pk}"}
    )
    ProcessorCustomer.objects.create(
        patient=patient, provider=PROVIDER, customer_id=customer.id, created_at=timezone.now()
    )
    return customer.id


def _may_pay(actor: User, invoice: Invoice) -> None:
    if actor.role == Role.PATIENT:
        if getattr(actor, "patient", None) != invoice.patient:
            raise PermissionDenied
        return
    if not actor.has_role_perm(Perm.BILLING_MANAGE):
        raise PermissionDenied
    require_at_location(actor, invoice.location_id)


@dataclass(frozen=True)
class Checkout:
    session: CheckoutSession
    reused: bool


def _open_hosted_page(
    *,
    actor: User,
    patient: Patient,
    amount: Decimal,
    name: str,
    reference: str,
    metadata: dict[str, str],
    idempotency_key: str,
    success_url: str,
    cancel_url: str,
    expires_at: datetime | None = None,
    **fields: Any,
) -> CheckoutSession:
    now = timezone.now()
    extra: dict[str, Any] = {}
    if expires_at is not None:
        # Stripe accepts 30 minutes to 24 hours from now.
        extra["expires_at"] = int(
            max(expires_at, now + timedelta(minutes=30, seconds=5)).timestamp()
        )
    try:
        customer = _customer_id(patient)
        page = _client().v1.checkout.sessions.create(
            params={
                **extra,
                "mode": "payment",
                "customer": customer,
                "client_reference_id": reference,
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": settings.BILLING_CURRENCY.lower(),
                            "unit_amount": _to_cents(amount),
                            "product_data": {"name": name},
                        },
                    }
                ],
                "metadata": metadata,
                "payment_intent_data": {"metadata": metadata},
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as error:
        raise _processor_error(error) from error
    session = CheckoutSession.objects.create(
        provider=PROVIDER,
        session_id=page.id,
        patient=patient,
        amount=amount,
        currency=settings.BILLING_CURRENCY,
        url=page.url,
        created_by=actor,
        created_at=now,
        expires_at=datetime.fromtimestamp(page["expires_at"], tz=UTC)
        if "expires_at" in page
        else now + CHECKOUT_REUSE,
        **fields,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=session,
        detail={**metadata, "amount": str(amount), "checkout": page.id},
    )
    return session


@transaction.atomic
def invoice_checkout_start(
    *, actor: User, invoice: Invoice, success_url: str, cancel_url: str
) -> Checkout:
    """Open Stripe's hosted page for what is still owed on an issued invoice. A second click while
    a page for the same amount is open returns that page instead of a new one."""
    _may_pay(actor, invoice)
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.ISSUED:
        raise ValidationError("This invoice is void; it cannot be paid.")
    balance = invoice_figures(invoice).balance
    if balance <= ZERO:
        raise ValidationError("Nothing is owed on this invoice.")
    now = timezone.now()
    open_page = invoice.checkouts.filter(
        status=CheckoutStatus.OPEN, amount=balance, expires_at__gt=now + timedelta(minutes=30)
    ).first()
    if open_page:
        return Checkout(session=open_page, reused=True)
    attempt = invoice.checkouts.count() + 1
    session = _open_hosted_page(
        actor=actor,
        patient=invoice.patient,
        amount=balance,
        name=f"{settings.CLINIC_NAME} invoice {invoice.number}",
        reference=f"invoice-{invoice.pk}",
        metadata={"invoice": str(invoice.pk), "purpose": "invoice"},
        idempotency_key=f"checkout-invoice-{invoice.pk}-{attempt}",
        success_url=success_url,
        cancel_url=cancel_url,
        invoice=invoice,
    )
    return Checkout(session=session, reused=False)


def _may_buy_package(actor: User, patient: Patient, plan: PackagePlan) -> None:
    if actor.role == Role.PATIENT:
        if getattr(actor, "patient", None) != patient:
            raise PermissionDenied
        return
    if not actor.has_role_perm(Perm.BILLING_MANAGE):
        raise PermissionDenied
    require_at_location(actor, plan.location_id)


@transaction.atomic
def package_checkout_start(
    *, actor: User, patient: Patient, plan: PackagePlan, success_url: str, cancel_url: str
) -> Checkout:
    """Issue 19: a patient (portal) or the front desk buys a package online. Stripe's page asks
    for the plan's price; the purchase and its invoice (`services.package_sell`) are created only
    when the webhook says it is paid, exactly once. Stripe is told the clinic's name and
    "package", never the service or the plan's name (it may name the treatment)."""
    _may_buy_package(actor, patient, plan)
    plan = PackagePlan.objects.select_for_update().get(pk=plan.pk)
    if not plan.active:
        raise ValidationError("This package is no longer offered.")
    now = timezone.now()
    pages = CheckoutSession.objects.filter(
        purpose=CheckoutPurpose.PACKAGE, patient=patient, package_plan=plan
    )
    open_page = pages.filter(
        status=CheckoutStatus.OPEN, amount=plan.price, expires_at__gt=now + timedelta(minutes=30)
    ).first()
    if open_page:
        return Checkout(session=open_page, reused=True)
    session = _open_hosted_page(
        actor=actor,
        patient=patient,
        amount=plan.price,
        name=f"{settings.CLINIC_NAME} package",
        reference=f"package-{plan.pk}-patient-{patient.pk}",
        metadata={"package_plan": str(plan.pk), "purpose": "package"},
        idempotency_key=f"checkout-package-{plan.pk}-{patient.pk}-{pages.count() + 1}",
        success_url=success_url,
        cancel_url=cancel_url,
        purpose=CheckoutPurpose.PACKAGE,
        package_plan=plan,
    )
    return Checkout(session=session, reused=False)


# --- Webhooks ---------------------------------------------------------------------------------


def webhook_handle(*, payload: bytes, signature: str) -> ProcessorEvent:
    """Verify Stripe's signature (tolerance `STRIPE_WEBHOOK_TOLERANCE_S`), then apply the event
    once. A repeat of a stored event id returns the stored row and changes nothing."""
    if not stripe_configured():
        raise WebhookRejected("Stripe is not configured.")
    try:
        event = stripe.Webhook.construct_event(
            payload,
            signature,
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_S,
        )
    except (ValueError, stripe.SignatureVerificationError) as error:
        raise WebhookRejected(str(error)) from error
    try:
        with transaction.atomic():
            row = ProcessorEvent.objects.create(
                provider=PROVIDER,
                event_id=event.id,
                event_type=event.type,
                created=datetime.fromtimestamp(event.created, tz=UTC),
                received_at=timezone.now(),
                outcome="",
            )
            row.outcome = _apply(event)[:300]
            row.save(update_fields=["outcome"])
            return row
    except IntegrityError:
        return ProcessorEvent.objects.get(event_id=event.id)


def _apply(event: stripe.Event) -> str:
    obj = event.data.object.to_dict()
    if event.type == "checkout.session.completed" and obj.get("mode") == "setup":
        from .cardonfile import card_setup_completed  # it imports this module

        return card_setup_completed(obj)
    if event.type in {"checkout.session.completed", "checkout.session.async_payment_succeeded"}:
        if obj.get("payment_status") != "paid":
            return "not paid yet"
        return _checkout_paid(obj)
    if event.type == "checkout.session.expired":
        return _checkout_expired(obj)
    if event.type in {"refund.created", "refund.updated", "charge.refund.updated"}:
        return _refund_seen(obj)
    return "ignored"


def _checkout_paid(obj: Any) -> str:
    session = CheckoutSession.objects.select_for_update().filter(session_id=obj["id"]).first()
    if session is None:
        return "unknown checkout session"
    intent = obj.get("payment_intent") or ""
    if Payment.objects.filter(provider=PROVIDER, kind=PaymentKind.PAYMENT, reference=intent):
        return "payment already recorded"
    amount = _from_cents(obj["amount_total"])
    if session.purpose == CheckoutPurpose.DEPOSIT:
        from .deposits import deposit_paid  # it imports this module

        return deposit_paid(session=session, intent=intent, amount=amount)
    if session.purpose == CheckoutPurpose.PACKAGE and session.invoice_id is None:
        # Issue 19: the package is sold now that it is paid (once: the session row is locked and
        # gets its invoice here).
        from . import services  # services imports nothing of ours; avoid a cycle at load time

        purchase = services.package_sell(
            actor=None,
            patient=session.patient,
            plan=session.package_plan,
            price=amount,
            paid_online=session.session_id,
        )
        session.invoice = purchase.invoice
        session.save(update_fields=["invoice"])
    invoice = Invoice.objects.select_for_update().get(pk=session.invoice_id)
    balance = invoice_figures(invoice).balance
    now = timezone.now()
    payment = Payment.objects.create(
        invoice=invoice,
        kind=PaymentKind.PAYMENT,
        method=PaymentMethod.CARD,
        amount=amount,
        provider=PROVIDER,
        reference=intent,
        note="Paid online (Stripe Checkout)",
        recorded_by=None,
        recorded_at=now,
    )
    session.status, session.completed_at, session.payment_intent_id = (
        CheckoutStatus.COMPLETE,
        now,
        intent,
    )
    session.save(update_fields=["status", "completed_at", "payment_intent_id"])
    audit_record(
        actor=None,
        action=AuditAction.CREATE,
        patient=invoice.patient,
        obj=payment,
        detail={
            "invoice": invoice.pk,
            "kind": "payment",
            "method": "card",
            "amount": str(amount),
            "provider": PROVIDER,
            "checkout": session.session_id,
        },
    )
    excess = cents(amount - max(balance, ZERO))
    if excess > ZERO:
        # Paid at the desk meanwhile: give the difference back at once, so the balance never goes
        # below zero and the patient is never charged twice.
        _refund_through_processor(
            actor=None,
            payment=payment,
            amount=excess,
            note="Overpayment returned",
            idempotency_key=f"overpayment-{intent}",
        )
        return f"payment recorded; {excess} over the balance refunded"
    return "payment recorded"


def _checkout_expired(obj: Any) -> str:
    updated = CheckoutSession.objects.filter(
        session_id=obj["id"], status=CheckoutStatus.OPEN
    ).update(status=CheckoutStatus.EXPIRED)
    return "checkout expired" if updated else "no open checkout"


def _refund_seen(obj: Any) -> str:
    """A refund Stripe reports (ours confirmed, or one made in Stripe's dashboard)."""
    if obj.get("status") not in {"succeeded", "pending"}:
        return f"refund {obj.get('status')}"
    if Payment.objects.filter(provider=PROVIDER, kind=PaymentKind.REFUND, reference=obj["id"]):
        return "refund already recorded"
    payment = Payment.objects.filter(
        provider=PROVIDER, kind=PaymentKind.PAYMENT, reference=obj.get("payment_intent") or "-"
    ).first()
    if payment is None:
        return "refund of an unknown payment"
    amount = _from_cents(obj["amount"])
    if amount > payment.amount - payment_refunded(payment):
        return "refund larger than what is left of the payment: not recorded, check Stripe"
    _refund_row(
        actor=None, payment=payment, amount=amount, reference=obj["id"], note="Refunded in Stripe"
    )
    return "refund recorded"


# --- Refunds ----------------------------------------------------------------------------------


def _refund_row(
    *, actor: User | None, payment: Payment, amount: Decimal, reference: str, note: str
) -> Payment:
    refund = Payment.objects.create(
        invoice_id=payment.invoice_id,
        kind=PaymentKind.REFUND,
        method=payment.method,
        amount=amount,
        provider=PROVIDER,
        reference=reference,
        note=note,
        refund_of=payment,
        recorded_by=actor,
        recorded_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=payment.invoice.patient,
        obj=refund,
        detail={
            "invoice": payment.invoice_id,
            "kind": "refund",
            "of": payment.pk,
            "amount": str(amount),
            "provider": PROVIDER,
        },
    )
    return refund


def _refund_through_processor(
    *, actor: User | None, payment: Payment, amount: Decimal, note: str, idempotency_key: str
) -> Payment:
    try:
        refund = _client().v1.refunds.create(
            params={"payment_intent": payment.reference, "amount": _to_cents(amount)},
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as error:
        raise _processor_error(error) from error
    if refund.status not in {"succeeded", "pending"}:
        raise ValidationError(f"The card processor did not refund ({refund.status}).")
    existing = Payment.objects.filter(
        provider=PROVIDER, kind=PaymentKind.REFUND, reference=refund.id
    )
    return existing.first() or _refund_row(
        actor=actor, payment=payment, amount=amount, reference=refund.id, note=note
    )


@transaction.atomic
def processor_refund(
    *, actor: User, payment: Payment, amount: Decimal | str, note: str = "", request_key: str
) -> Payment:
    """An admin refunds a card payment taken online, in full or in part, through Stripe. Never
    more than the payment less its refunds. `request_key` (one per refund form shown) makes a
    double submit refund once."""
    if actor.role != Role.ADMIN or not actor.has_role_perm(Perm.BILLING_MANAGE):
        raise PermissionDenied
    invoice = Invoice.objects.select_for_update().get(pk=payment.invoice_id)
    require_at_location(actor, invoice.location_id)
    if not request_key:
        raise ValidationError(
            {"amount": ["The form is out of date: reload the page and refund again."]}
        )
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.provider != PROVIDER or payment.kind != PaymentKind.PAYMENT:
        raise ValidationError({"payment": ["Only a card payment taken online is refunded here."]})
    if PackagePurchase.objects.filter(invoice=invoice).exists():
        # Issue 19: a package is refunded for its unused sessions only (`package_refund`).
        raise ValidationError(
            {"payment": ['Refund a package with "Refund unused sessions" on its invoice.']}
        )
    try:
        value = cents(Decimal(str(amount)))
    except ArithmeticError as error:
        raise ValidationError({"amount": ["Enter an amount in dollars, e.g. 25.00."]}) from error
    if value <= ZERO:
        raise ValidationError({"amount": ["Enter an amount above zero."]})
    refundable = payment.amount - payment_refunded(payment)
    if value > refundable:
        raise ValidationError({"amount": [f"At most {refundable} can be refunded."]})
    return _refund_through_processor(
        actor=actor,
        payment=payment,
        amount=value,
        note=note.strip() or "Refunded through Stripe",
        idempotency_key=f"refund-{payment.pk}-{request_key}",
    )


# --- Packages: refund of the unused sessions ---------------------------------------------------


def package_refund_due(purchase: PackagePurchase) -> tuple[int, Decimal]:
    """(unused sessions, what they are worth): price paid x unused / sessions sold, rounded down to
    the cent so the refund is never more than the unused share; never more than what is still
    collected on the package's invoice."""
    unused = package_sessions_left(purchase)
    figures = invoice_figures(purchase.invoice)
    if unused <= 0 or purchase.sessions_total == 0:
        return 0, ZERO
    share = unused_share(figures.total, unused, purchase.sessions_total)
    return unused, min(share, cents(figures.paid - figures.refunded))


def unused_share(price: Decimal, unused: int, total: int) -> Decimal:
    """price x unused / total, rounded down to the cent: never more than the unused share."""
    return (price * unused / total).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


@transaction.atomic
def package_refund(
    *, actor: User, purchase: PackagePurchase, request_key: str, note: str = ""
) -> PackagePurchase:
    """Issue 19: an admin refunds a package's unused sessions. The used sessions stay redeemed;
    the unused ones are released (`sessions_released`, audited) and their share of the price is
    refunded (through Stripe for a card payment taken online, through the manual provider for
    the rest). A double submit (same `request_key`) or a second press refunds once."""
    if actor.role != Role.ADMIN or not actor.has_role_perm(Perm.BILLING_MANAGE):
        raise PermissionDenied
    invoice = Invoice.objects.select_for_update().get(pk=purchase.invoice_id)
    require_at_location(actor, invoice.location_id)
    if not request_key:
        raise ValidationError("The form is out of date: reload the page and refund again.")
    purchase = PackagePurchase.objects.select_for_update().get(pk=purchase.pk)
    unused, amount = package_refund_due(purchase)
    if unused <= 0:
        raise ValidationError("No unused sessions are left on this package.")
    if amount <= ZERO:
        raise ValidationError("Nothing was collected for this package: nothing to refund.")
    from . import services

    left = amount
    payments = invoice.payments.filter(kind=PaymentKind.PAYMENT).order_by("-provider", "pk")
    refunds = []
    for payment in payments.select_for_update():
        part = min(left, payment.amount - payment_refunded(payment))
        if part <= ZERO:
            continue
        text = note.strip() or f"Unused package sessions ({unused}) refunded"
        if payment.provider == PROVIDER:
            refund = _refund_through_processor(
                actor=actor,
                payment=payment,
                amount=part,
                note=text,
                idempotency_key=f"package-refund-{purchase.pk}-{payment.pk}-{request_key}",
            )
        else:
            refund = services.refund_record(
                actor=actor, payment=payment, amount=part, note=text, package_refund=True
            )
        refunds.append(refund.pk)
        left -= part
        if left <= ZERO:
            break
    purchase.sessions_released += unused
    purchase.save(update_fields=["sessions_released", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=invoice.patient,
        obj=purchase,
        detail={
            "sessions_released": unused,
            "sessions_total": purchase.sessions_total,
            "refunded": str(amount),
            "refunds": refunds,
        },
    )
    return purchase
