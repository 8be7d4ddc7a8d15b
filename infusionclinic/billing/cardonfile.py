"""Card on file with the patient's consent to the clinic's fee policy (issue 19).

The patient reads the current version of the fee policy (`data/fee_policy.json`, versioned like
the intake consent documents), agrees in the portal (`FeePolicyConsent`: the text as shown and the
fees of that day), and saves a card on Stripe's hosted page (Checkout `mode=setup`). The card is
stored from the signed webhook only, and only as Stripe's ids, brand, last 4 and expiry.

Staff charge the scheduling policy's late-cancel / no-show fee (`SCHEDULING_LATE_CANCEL_FEE`,
`SCHEDULING_NO_SHOW_FEE`; 0 = no fee) off-session through a staff action that shows the amount and
the policy first — never automatically — and once per appointment: the appointment row is locked,
a `FeeCharge` is unique per appointment, and Stripe is sent an idempotency key per appointment."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_at_location
from infusionclinic.patients.models import Patient
from infusionclinic.scheduling.models import Appointment, AppointmentStatus

from . import online
from .models import (
    CardOnFile,
    CardSetup,
    CheckoutStatus,
    FeeCharge,
    FeeKind,
    FeePolicyConsent,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentKind,
    PaymentMethod,
)
from .money import ZERO, cents

POLICY_FILE = Path(__file__).parent / "data" / "fee_policy.json"


@cache
def _policy_versions() -> list[dict[str, Any]]:
    versions = json.loads(POLICY_FILE.read_text(encoding="utf-8"))["versions"]
    return sorted(versions, key=lambda v: v["version"])


def fee_amounts() -> dict[str, Decimal]:
    """The scheduling policy's fees (a clinic choice; 0 means no fee)."""
    return {
        FeeKind.LATE_CANCEL: cents(Decimal(settings.SCHEDULING_LATE_CANCEL_FEE)),
        FeeKind.NO_SHOW: cents(Decimal(settings.SCHEDULING_NO_SHOW_FEE)),
    }


@dataclass(frozen=True)
class FeePolicy:
    version: int
    title: str
    text: str
    late_cancel_fee: Decimal
    no_show_fee: Decimal


def fee_policy_current() -> FeePolicy:
    latest = _policy_versions()[-1]
    fees = fee_amounts()
    text = latest["body"].format(
        late_cancel_hours=settings.SCHEDULING_LATE_CANCEL_HOURS,
        late_cancel_fee=fees[FeeKind.LATE_CANCEL],
        no_show_fee=fees[FeeKind.NO_SHOW],
    )
    return FeePolicy(
        version=latest["version"],
        title=latest["title"],
        text=text,
        late_cancel_fee=fees[FeeKind.LATE_CANCEL],
        no_show_fee=fees[FeeKind.NO_SHOW],
    )


def card_on_file(patient: Patient) -> CardOnFile | None:
    return CardOnFile.objects.filter(patient=patient, active=True).select_related("consent").first()


def _own_patient(actor: User) -> Patient:
    patient = getattr(actor, "patient", None)
    if actor.role != Role.PATIENT or patient is None:
        raise PermissionDenied
    return patient


@transaction.atomic
def card_setup_start(
    *, actor: User, agree_version: int | None, success_url: str, cancel_url: str
) -> CardSetup:
    """The patient agrees to the fee policy version shown and opens Stripe's card set-up page.
    Refused unless the version agreed to is the current one."""
    patient = _own_patient(actor)
    policy = fee_policy_current()
    if agree_version != policy.version:
        raise ValidationError(
            "Read and agree to the current fee policy (tick the box) before saving a card."
        )
    now = timezone.now()
    consent = FeePolicyConsent.objects.create(
        patient=patient,
        version=policy.version,
        text=policy.text,
        late_cancel_fee=policy.late_cancel_fee,
        no_show_fee=policy.no_show_fee,
        agreed_by=actor,
        agreed_at=now,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=consent,
        detail={
            "fee_policy_version": policy.version,
            "late_cancel_fee": str(policy.late_cancel_fee),
            "no_show_fee": str(policy.no_show_fee),
        },
    )
    try:
        customer = online._customer_id(patient)  # noqa: SLF001 (same app)
        page = online._client().v1.checkout.sessions.create(  # noqa: SLF001
            params={
                "mode": "setup",
                "customer": customer,
                "currency": settings.BILLING_CURRENCY.lower(),
                "payment_method_types": ["card"],
                "client_reference_id": f"card-setup-{consent.pk}",
                "metadata": {"purpose": "card_setup", "fee_consent": str(consent.pk)},
                "setup_intent_data": {"metadata": {"fee_consent": str(consent.pk)}},
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            options={"idempotency_key": f"card-setup-{consent.pk}"},
        )
    except stripe.StripeError as error:
        raise online._processor_error(error) from error  # noqa: SLF001
    setup = CardSetup.objects.create(
        provider=online.PROVIDER,
        session_id=page.id,
        patient=patient,
        consent=consent,
        url=page.url,
        created_by=actor,
        created_at=now,
        expires_at=datetime.fromtimestamp(page["expires_at"], tz=UTC)
        if "expires_at" in page
        else now + timedelta(hours=23),
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=setup,
        detail={"checkout": page.id, "mode": "setup", "fee_consent": consent.pk},
    )
    return setup


def card_setup_completed(obj: dict[str, Any]) -> str:
    """Webhook `checkout.session.completed` with `mode=setup`: store the card (brand, last 4,
    expiry, ids) once; the patient's earlier cards stop being charged."""
    setup = CardSetup.objects.select_for_update().filter(session_id=obj["id"]).first()
    if setup is None:
        return "unknown card set-up session"
    intent_id = obj.get("setup_intent") or ""
    if not intent_id:
        return "set-up session without a setup intent"
    if CardOnFile.objects.filter(setup_intent_id=intent_id).exists():
        return "card already saved"
    try:
        intent = online._client().v1.setup_intents.retrieve(  # noqa: SLF001
            intent_id, params={"expand": ["payment_method"]}
        )
    except stripe.StripeError as error:
        raise ValidationError("The card processor did not answer.") from error
    if intent.status != "succeeded":
        return f"setup intent {intent.status}"
    method = intent.payment_method
    card = method.card
    now = timezone.now()
    CardOnFile.objects.filter(patient=setup.patient, active=True).update(active=False)
    saved = CardOnFile.objects.create(
        patient=setup.patient,
        provider=online.PROVIDER,
        customer_id=intent.customer,
        setup_intent_id=intent.id,
        payment_method_id=method.id,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        consent=setup.consent,
        created_at=now,
    )
    setup.status = CheckoutStatus.COMPLETE
    setup.save(update_fields=["status"])
    audit_record(
        actor=None,
        action=AuditAction.CREATE,
        patient=setup.patient,
        obj=saved,
        detail={
            "brand": saved.brand,
            "last4": saved.last4,
            "exp": f"{saved.exp_month:02d}/{saved.exp_year}",
            "fee_policy_version": setup.consent.version,
        },
    )
    return "card saved"


@transaction.atomic
def card_remove(*, actor: User, card: CardOnFile) -> None:
    """The patient removes the saved card: it is no longer charged."""
    patient = _own_patient(actor)
    if card.patient_id != patient.pk:
        raise PermissionDenied
    CardOnFile.objects.filter(pk=card.pk).update(active=False)
    audit_record(
        actor=actor, action=AuditAction.UPDATE, patient=patient, obj=card, detail={"active": False}
    )


# --- The fee ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeQuote:
    """What the staff action would charge, shown before it is confirmed."""

    kind: str
    label: str
    amount: Decimal
    card: CardOnFile | None
    consent: FeePolicyConsent | None
    problem: str  # "" = may be charged
    charged: FeeCharge | None


def _may_charge(actor: User, appointment: Appointment) -> None:
    if actor.role == Role.PATIENT or not actor.has_role_perm(Perm.BILLING_MANAGE):
        raise PermissionDenied
    require_at_location(actor, appointment.location_id)


def fee_quote(*, actor: User, appointment: Appointment) -> FeeQuote:
    """The fee an appointment incurs under the policy the patient agreed to: the current fee, but
    never more than the fee in the text the patient agreed to."""
    _may_charge(actor, appointment)
    charged = FeeCharge.objects.filter(appointment=appointment).first()
    if appointment.status == AppointmentStatus.NO_SHOW:
        kind = FeeKind.NO_SHOW
    elif appointment.status == AppointmentStatus.CANCELLED and appointment.late_cancellation:
        kind = FeeKind.LATE_CANCEL
    else:
        return FeeQuote(
            "", "", ZERO, None, None, "Only a no-show or a late cancellation incurs a fee.", charged
        )
    card = card_on_file(appointment.patient)
    consent = card.consent if card else None
    current = fee_amounts()[kind]
    agreed = (
        (consent.no_show_fee if kind == FeeKind.NO_SHOW else consent.late_cancel_fee)
        if consent
        else ZERO
    )
    amount = min(current, agreed) if consent else current
    problem = ""
    if charged:
        problem = f"Already charged on {charged.charged_at:%Y-%m-%d}."
    elif current <= ZERO:
        problem = "The clinic charges no fee for this (the scheduling policy's fee is 0)."
    elif card is None:
        problem = "The patient has no card on file with consent to the fee policy."
    elif amount <= ZERO:
        problem = "The fee policy the patient agreed to has no fee for this."
    elif not online.stripe_configured():
        problem = "Online card payments are not set up."
    return FeeQuote(kind, FeeKind(kind).label, amount, card, consent, problem, charged)


@transaction.atomic
def fee_charge(*, actor: User, appointment: Appointment, amount_shown: Decimal | str) -> FeeCharge:
    """Staff charge the fee shown (`amount_shown` must still be the fee) to the card on file,
    off-session. A second press returns the first charge: one fee per appointment."""
    _may_charge(actor, appointment)
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    existing = FeeCharge.objects.filter(appointment=appointment).first()
    if existing:
        return existing
    quote = fee_quote(actor=actor, appointment=appointment)
    if quote.problem:
        raise ValidationError(quote.problem)
    if cents(Decimal(str(amount_shown))) != quote.amount:
        raise ValidationError("The fee has changed since the page was shown: review it again.")
    card = quote.card
    try:
        intent = online._client().v1.payment_intents.create(  # noqa: SLF001
            params={
                "amount": online._to_cents(quote.amount),  # noqa: SLF001
                "currency": settings.BILLING_CURRENCY.lower(),
                "customer": card.customer_id,
                "payment_method": card.payment_method_id,
                "off_session": True,
                "confirm": True,
                "description": f"{settings.CLINIC_NAME} {quote.label.lower()}",
                "metadata": {"appointment": str(appointment.pk), "purpose": quote.kind},
            },
            # Per appointment (and card: a declined card replaced by a new one may be tried).
            options={
                "idempotency_key": f"fee-appointment-{appointment.pk}-{card.payment_method_id}"
            },
        )
    except stripe.CardError as error:
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient=appointment.patient,
            obj=appointment,
            detail={"fee": quote.kind, "amount": str(quote.amount), "declined": error.code},
        )
        raise ValidationError(
            f"The card was declined ({error.user_message or error.code}); nothing was charged."
        ) from error
    except stripe.StripeError as error:
        raise online._processor_error(error) from error  # noqa: SLF001
    if intent.status != "succeeded":
        raise ValidationError(f"The card processor did not take the fee ({intent.status}).")
    now = timezone.now()
    location = appointment.location
    invoice = Invoice.objects.create(
        patient=appointment.patient,
        location=location,
        date_of_service=appointment.starts_at.astimezone(location.tzinfo).date(),
        created_by=actor,
    )
    start = appointment.starts_at.astimezone(location.tzinfo)
    InvoiceLine.objects.create(
        invoice=invoice,
        service=None,
        code="",
        label=f"{quote.label} (appointment {start:%Y-%m-%d %H:%M})",
        units=1,
        unit_price=quote.amount,
    )
    charge = FeeCharge.objects.create(
        appointment=appointment,
        kind=quote.kind,
        amount=quote.amount,
        card=card,
        invoice=invoice,
        payment_intent_id=intent.id,
        charged_by=actor,
        charged_at=now,
    )
    payment = Payment.objects.create(
        invoice=invoice,
        kind=PaymentKind.PAYMENT,
        method=PaymentMethod.CARD,
        amount=quote.amount,
        provider=online.PROVIDER,
        reference=intent.id,
        note=f"{quote.label} charged to the card on file ({card.brand} ending {card.last4})",
        recorded_by=actor,
        recorded_at=now,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=appointment.patient,
        obj=charge,
        detail={
            "appointment": appointment.pk,
            "fee": quote.kind,
            "amount": str(quote.amount),
            "fee_policy_version": card.consent.version,
            "card": f"{card.brand} {card.last4}",
            "payment": payment.pk,
            "payment_intent": intent.id,
        },
    )
    return charge
