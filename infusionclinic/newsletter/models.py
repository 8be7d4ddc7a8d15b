"""The "stay in the loop" newsletter: subscribers (double opt-in), campaigns, and one Delivery row
per recipient and campaign, which is what makes sending resumable without sending twice."""

from django.conf import settings
from django.db import models

from infusionclinic.website.models import Interest


class SubscriberStatus(models.TextChoices):
    PENDING = "pending", "Waiting for confirmation"
    CONFIRMED = "confirmed", "Confirmed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class Subscriber(models.Model):
    email = models.EmailField(unique=True)  # stored lower-cased
    name = models.CharField(max_length=200, blank=True)
    interests = models.JSONField(default=list, blank=True)  # Interest values
    status = models.CharField(
        max_length=16, choices=SubscriberStatus.choices, default=SubscriberStatus.PENDING
    )
    # Changes at every sign-up: a confirmation link only works for the sign-up that sent it, so
    # re-subscribing after unsubscribing needs the fresh confirmation mail.
    confirm_nonce = models.CharField(max_length=32)
    created_at = models.DateTimeField()
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"


class Campaign(models.Model):
    subject = models.CharField(max_length=200)
    body_markdown = models.TextField()
    # Empty: every confirmed subscriber; otherwise only those who chose this interest.
    segment = models.CharField(max_length=32, choices=Interest.choices, blank=True)
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.subject


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    SENDING = "sending", "Being sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Refused by the mail server"
    SKIPPED = "skipped", "Not sent: unsubscribed before sending"
    # The worker stopped while this message was being handed to the mail server: it may or may
    # not have gone. Never re-sent automatically (no one gets a campaign twice).
    UNKNOWN = "unknown", "Interrupted — may not have been sent"


class Delivery(models.Model):
    """One campaign to one subscriber. Its status moves pending → sending → sent|failed, each step
    committed: a worker claims a pending row (committing "sending") before it talks to the mail
    server, and records the outcome after."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()  # the address it was sent to
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "subscriber"], name="newsletter_delivery_once"
            )
        ]
        indexes = [models.Index(fields=["campaign", "status"])]

    def __str__(self) -> str:
        return f"{self.campaign_id} → {self.email}: {self.status}"
