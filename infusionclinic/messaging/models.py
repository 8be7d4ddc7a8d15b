"""Secure messaging between a patient and their location's care team (issue 18 section 3).

A `Thread` belongs to one patient and one location (the patient's home location when it was
opened) and has a category the patient picks: administrative ("appointments & billing", read by
front desk, nurses and prescribers) or clinical ("clinical question", nurses and prescribers
only). Messages are append-only; attachments are stored through Django's storage API (never the
static root) and served only by an access-checked, audited view."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from infusionclinic.accounts.models import Location
from infusionclinic.patients.models import Patient


class ThreadCategory(models.TextChoices):
    ADMINISTRATIVE = "administrative", "Appointments & billing"
    CLINICAL = "clinical", "Clinical question"


class ThreadStatus(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING_ON_PATIENT = "waiting_on_patient", "Waiting on patient"
    CLOSED = "closed", "Closed"


class Thread(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="message_threads")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="message_threads")
    category = models.CharField(max_length=20, choices=ThreadCategory.choices)
    subject = models.CharField(max_length=120)
    status = models.CharField(max_length=20, choices=ThreadStatus.choices, default=ThreadStatus.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_threads",
    )
    # A patient message matched the crisis phrases (data/crisis_phrases.txt).
    urgent = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    last_message_at = models.DateTimeField()
    last_staff_message_at = models.DateTimeField(null=True, blank=True)
    last_patient_message_at = models.DateTimeField(null=True, blank=True)
    # Set by a patient's message when no staff answer followed it; cleared by the staff answer.
    # The inbox highlights a thread unanswered for more than one business day from this time.
    awaiting_staff_since = models.DateTimeField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["location", "category", "status", "-last_message_at"]),
            models.Index(fields=["patient", "-last_message_at"]),
        ]

    def __str__(self) -> str:
        return f"Thread {self.pk}"


class Message(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    from_patient = models.BooleanField()
    body = models.TextField()
    # The crisis phrases this message matched (patient messages only), as found.
    crisis_phrases = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["thread", "created_at"])]
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Message {self.pk}"


class Attachment(models.Model):
    """A PDF, JPEG or PNG (type read from its first bytes). Uploaded on a thread, then linked to
    the message it was sent with (the API uploads first, then sends)."""

    thread = models.ForeignKey(Thread, on_delete=models.PROTECT, related_name="attachments")
    message = models.ForeignKey(
        Message, on_delete=models.PROTECT, null=True, blank=True, related_name="attachments"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    file = models.FileField(upload_to="messaging/%Y/%m/")
    original_name = models.CharField(max_length=120)
    content_type = models.CharField(max_length=40)
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Attachment {self.pk}"


class ThreadRead(models.Model):
    """How far a user has read a thread (read marks): messages after `read_at` are unread."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["thread", "user"], name="one_read_mark_per_user")
        ]

    def __str__(self) -> str:
        return f"Read mark {self.pk}"


class ThreadFiling(models.Model):
    """A thread filed to the chart: a PDF transcript of the thread as it stood, kept with the
    patient's documents (the chart lists it; a later message does not change it)."""

    thread = models.ForeignKey(Thread, on_delete=models.PROTECT, related_name="filings")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="message_filings")
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    filed_at = models.DateTimeField()
    message_count = models.PositiveIntegerField()
    pdf = models.FileField(upload_to="messaging/filed/%Y/%m/")

    def __str__(self) -> str:
        return f"Filing {self.pk}"
