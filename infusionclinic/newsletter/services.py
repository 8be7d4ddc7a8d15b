"""Newsletter writes. Sign-up is double opt-in; only confirmed addresses receive campaigns.

Sending is resumable without sending anyone twice. `campaign_start` writes one Delivery row per
recipient; each background batch claims rows one at a time (select_for_update(skip_locked), the
claim committed as "sending" before the mail server is contacted), then commits the outcome. A
worker that dies between two recipients leaves only "pending" rows, which `newsletter_resume`
hands to a new batch. A worker that dies while handing one message to the mail server leaves that
row "sending": it may or may not have gone, so `newsletter_resume` marks it "unknown" for the
admin to see and never re-sends it."""

import secrets
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tasks import task

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_role_perm
from infusionclinic.common.mail import email_enqueue
from infusionclinic.website.models import Interest

from .mail import campaign_message, confirm_url, confirmation_mail_parts, unsubscribe_url
from .models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)
from .tokens import TokenInvalid, confirm_token_read, unsubscribe_token_read

# The mail server refused this one message: nothing was delivered, and retrying will not help.
DEFINITE_REFUSALS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
)


# --- Subscribers -------------------------------------------------------------------------------


@transaction.atomic
def subscriber_subscribe(*, email: str, name: str, interests: list[str]) -> None:
    """Start (or restart) a sign-up and queue the confirmation mail. Returns nothing: the page
    shown afterwards must not reveal whether the address was already on the list. A confirmed
    address is left as it is; a repeated sign-up within NEWSLETTER_RESEND_MINUTES sends no second
    mail (no one can use the form to flood an inbox)."""
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": ["Enter a valid email address."]}) from exc
    unknown = set(interests) - set(Interest.values)
    if unknown:
        raise ValidationError({"interests": ["Choose from the listed topics."]})
    now = timezone.now()
    subscriber = Subscriber.objects.select_for_update().filter(email=email).first()
    if subscriber is not None and subscriber.status == SubscriberStatus.CONFIRMED:
        return
    if subscriber is None:
        subscriber = Subscriber(email=email, created_at=now)
    elif (
        subscriber.status == SubscriberStatus.PENDING
        and subscriber.confirmation_sent_at
        and now - subscriber.confirmation_sent_at
        < timedelta(minutes=settings.NEWSLETTER_RESEND_MINUTES)
    ):
        return
    subscriber.name = name.strip()[:200]
    subscriber.interests = sorted(set(interests))
    subscriber.status = SubscriberStatus.PENDING
    subscriber.confirm_nonce = secrets.token_hex(16)
    subscriber.confirmation_sent_at = now
    try:
        with transaction.atomic():
            subscriber.save()
    except IntegrityError:
        return  # the same address signed up in a parallel request, which sends the mail
    subject, text, html = confirmation_mail_parts(
        name=subscriber.name,
        url=confirm_url(subscriber_id=subscriber.pk, nonce=subscriber.confirm_nonce),
    )
    email_enqueue(subject=subject, body=text, to=[email], html_body=html)


def subscriber_for_confirm_token(*, token: str) -> Subscriber:
    """The subscriber a confirmation link belongs to. Raises TokenExpired or TokenInvalid (also
    when a newer sign-up or an unsubscribe has replaced the link)."""
    claim = confirm_token_read(token)
    subscriber = Subscriber.objects.filter(pk=claim.subscriber_id).first()
    if subscriber is None or not secrets.compare_digest(subscriber.confirm_nonce, claim.nonce):
        raise TokenInvalid
    return subscriber


@transaction.atomic
def subscriber_confirm(*, token: str) -> Subscriber:
    subscriber = subscriber_for_confirm_token(token=token)
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    if subscriber.status == SubscriberStatus.PENDING:
        subscriber.status = SubscriberStatus.CONFIRMED
        subscriber.confirmed_at = timezone.now()
        subscriber.save(update_fields=["status", "confirmed_at"])
        # Evidence of consent: when, and from which address.
        audit_record(
            actor=None, action=AuditAction.UPDATE, obj=subscriber, detail={"status": "confirmed"}
        )
    return subscriber


@transaction.atomic
def subscriber_unsubscribe(*, token: str) -> bool:
    """Unsubscribe the link's owner. Returns False when they already were (nothing changes)."""
    subscriber_id = unsubscribe_token_read(token)
    subscriber = Subscriber.objects.select_for_update().filter(pk=subscriber_id).first()
    if subscriber is None:
        raise TokenInvalid
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = timezone.now()
    subscriber.confirm_nonce = secrets.token_hex(16)  # an old confirmation link must not re-add
    subscriber.save(update_fields=["status", "unsubscribed_at", "confirm_nonce"])
    audit_record(
        actor=None, action=AuditAction.UPDATE, obj=subscriber, detail={"status": "unsubscribed"}
    )
    return True


# --- Campaigns ---------------------------------------------------------------------------------


def _validate_campaign(subject: str, body_markdown: str, segment: str) -> None:
    errors = {}
    if not subject.strip():
        errors["subject"] = ["A campaign needs a subject."]
    if not body_markdown.strip():
        errors["body_markdown"] = ["A campaign needs some text."]
    if segment and segment not in Interest.values:
        errors["segment"] = ["Choose one of the listed topics, or everyone."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def campaign_create(*, actor: User, subject: str, body_markdown: str, segment: str) -> Campaign:
    require_role_perm(actor, Perm.NEWSLETTER_MANAGE)
    _validate_campaign(subject, body_markdown, segment)
    campaign = Campaign.objects.create(
        subject=subject.strip(),
        body_markdown=body_markdown.strip() + "\n",
        segment=segment,
        created_at=timezone.now(),
        created_by=actor,
    )
    audit_record(actor=actor, action=AuditAction.CREATE, obj=campaign)
    return campaign


@transaction.atomic
def campaign_update(
    *, actor: User, campaign: Campaign, subject: str, body_markdown: str, segment: str
) -> Campaign:
    require_role_perm(actor, Perm.NEWSLETTER_MANAGE)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != CampaignStatus.DRAFT:
        raise ValidationError(
            {"subject": ["This campaign has been sent; it can no longer change."]}
        )
    _validate_campaign(subject, body_markdown, segment)
    campaign.subject = subject.strip()
    campaign.body_markdown = body_markdown.strip() + "\n"
    campaign.segment = segment
    campaign.save(update_fields=["subject", "body_markdown", "segment"])
    audit_record(actor=actor, action=AuditAction.UPDATE, obj=campaign)
    return campaign


def campaign_send_test(*, actor: User, campaign: Campaign) -> None:
    """Queue the campaign to the editor's own address, marked as a test."""
    require_role_perm(actor, Perm.NEWSLETTER_MANAGE)
    campaign_send_test_task.enqueue(campaign_id=campaign.pk, to=actor.email)


@task()
def campaign_send_test_task(*, campaign_id: int, to: str) -> None:
    campaign = Campaign.objects.get(pk=campaign_id)
    campaign_message(campaign=campaign, to=to, unsubscribe=None, subject_prefix="[Test] ").send()


def campaign_recipients(campaign: Campaign) -> list[tuple[int, str]]:
    """(subscriber id, email) of every confirmed subscriber in the campaign's segment. Filtered
    in Python: JSON containment is not available on SQLite, and a clinic's list is small."""
    rows = Subscriber.objects.filter(status=SubscriberStatus.CONFIRMED).values_list(
        "pk", "email", "interests"
    )
    return [
        (pk, email)
        for pk, email, interests in rows
        if not campaign.segment or campaign.segment in (interests or [])
    ]


@transaction.atomic
def campaign_start(*, actor: User, campaign: Campaign) -> int:
    """Freeze the recipient list (one Delivery row each) and queue the first batch. The queued
    task is a row in the same database, so it commits with the deliveries or not at all."""
    require_role_perm(actor, Perm.NEWSLETTER_MANAGE)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != CampaignStatus.DRAFT:
        raise ValidationError({"campaign": ["This campaign is already sending or sent."]})
    recipients = campaign_recipients(campaign)
    Delivery.objects.bulk_create(
        [Delivery(campaign=campaign, subscriber_id=pk, email=email) for pk, email in recipients],
        batch_size=1000,
    )
    campaign.status = CampaignStatus.SENDING
    campaign.started_at = timezone.now()
    campaign.save(update_fields=["status", "started_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=campaign,
        detail={"sent_to": len(recipients), "segment": campaign.segment or "everyone"},
    )
    campaign_send_batch_task.enqueue(campaign_id=campaign.pk)
    return len(recipients)


@task()
def campaign_send_batch_task(*, campaign_id: int) -> int:
    return campaign_send_batch(campaign_id=campaign_id)


def delivery_claim_next(*, campaign_id: int) -> Delivery | None:
    """Take the next waiting recipient, committing "sending" before any mail goes out. Workers
    running side by side skip each other's locked rows (PostgreSQL); SQLite serialises writers."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True)
            .select_related("subscriber")
            .filter(campaign_id=campaign_id, status=DeliveryStatus.PENDING)
            .order_by("pk")
            .first()
        )
        if delivery is None:
            return None
        delivery.status = DeliveryStatus.SENDING
        delivery.claimed_at = timezone.now()
        delivery.save(update_fields=["status", "claimed_at"])
    return delivery


def _delivery_finish(delivery: Delivery, status: str, error: str = "") -> None:
    delivery.status = status
    delivery.error = error[:300]
    delivery.sent_at = timezone.now() if status == DeliveryStatus.SENT else None
    delivery.save(update_fields=["status", "error", "sent_at"])


def _delivery_send(delivery: Delivery, campaign: Campaign, connection: BaseEmailBackend) -> None:
    if delivery.subscriber.status != SubscriberStatus.CONFIRMED:
        _delivery_finish(delivery, DeliveryStatus.SKIPPED, "unsubscribed before sending")
        return
    message = campaign_message(
        campaign=campaign,
        to=delivery.email,
        unsubscribe=unsubscribe_url(subscriber_id=delivery.subscriber_id),
        connection=connection,
    )
    try:
        message.send()
    except DEFINITE_REFUSALS as exc:
        _delivery_finish(delivery, DeliveryStatus.FAILED, str(exc))
        return
    except BaseException as exc:
        # The connection broke (or the worker is being stopped) while the server had the message:
        # it may have gone. Record that, never re-send, and stop this batch.
        _delivery_finish(delivery, DeliveryStatus.UNKNOWN, f"{type(exc).__name__}: {exc}")
        raise
    _delivery_finish(delivery, DeliveryStatus.SENT)


def campaign_send_batch(*, campaign_id: int) -> int:
    """Send up to NEWSLETTER_BATCH_SIZE waiting deliveries over one mail connection, then queue
    the next batch or mark the campaign sent. Returns how many messages went out."""
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.status != CampaignStatus.SENDING:
        return 0
    sent = 0
    # Opening the connection first: if the mail server is down, nothing has been claimed yet.
    with get_connection() as connection:
        for _ in range(settings.NEWSLETTER_BATCH_SIZE):
            delivery = delivery_claim_next(campaign_id=campaign_id)
            if delivery is None:
                break
            _delivery_send(delivery, campaign, connection)
            sent += delivery.status == DeliveryStatus.SENT
    campaign_continue(campaign_id=campaign_id)
    return sent


def campaign_continue(*, campaign_id: int) -> None:
    """Queue another batch while recipients wait; mark the campaign sent when none are left."""
    waiting = Delivery.objects.filter(campaign_id=campaign_id, status=DeliveryStatus.PENDING)
    if waiting.exists():
        campaign_send_batch_task.enqueue(campaign_id=campaign_id)
        return
    in_flight = Delivery.objects.filter(campaign_id=campaign_id, status=DeliveryStatus.SENDING)
    if not in_flight.exists():
        Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
            status=CampaignStatus.SENT, finished_at=timezone.now()
        )


def campaigns_resume() -> tuple[int, int]:
    """After a crash (run by `manage.py newsletter_resume`, and by `make demo` before the worker
    starts): claims older than NEWSLETTER_STALE_CLAIM_MINUTES become "unknown" (never re-sent),
    and every campaign still sending gets a fresh batch. Returns (campaigns resumed, unknown)."""
    stale_before = timezone.now() - timedelta(minutes=settings.NEWSLETTER_STALE_CLAIM_MINUTES)
    unknown = Delivery.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=stale_before
    ).update(status=DeliveryStatus.UNKNOWN, error="the worker stopped while sending this message")
    campaign_ids = list(
        Campaign.objects.filter(status=CampaignStatus.SENDING).values_list("pk", flat=True)
    )
    for campaign_id in campaign_ids:
        campaign_continue(campaign_id=campaign_id)
    return len(campaign_ids), unknown
