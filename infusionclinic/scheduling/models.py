"""Chairs, opening hours, holidays, staff shifts and appointments.

The database refuses what it can: an appointment ends after it starts, an infusion has a chair,
and on PostgreSQL an exclusion constraint (migration 0002) refuses two booked appointments that
overlap on the same chair or for the same patient. The rules that need more context (opening
hours, a prescriber on shift, the nurse-to-chair ratio) live in `services.py`, which serialises
bookings per location so they hold under concurrent requests too."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from infusionclinic.accounts.models import Location
from infusionclinic.common.models import TimeStampedModel
from infusionclinic.patients.models import Patient


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class OpeningHours(models.Model):
    """When a location is open on a weekday, in the location's own time zone."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens_at = models.TimeField()
    closes_at = models.TimeField()

    class Meta:
        verbose_name_plural = "opening hours"
        constraints = [
            models.UniqueConstraint(fields=["location", "weekday"], name="one_opening_per_weekday"),
            models.CheckConstraint(
                condition=Q(closes_at__gt=models.F("opens_at")), name="opening_closes_after_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.location} {self.get_weekday_display()} {self.opens_at}-{self.closes_at}"


class Holiday(models.Model):
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["location", "date"], name="one_holiday_per_date")
        ]

    def __str__(self) -> str:
        return f"{self.location} {self.date} {self.name}"


class Chair(models.Model):
    """An infusion chair or room."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="chairs")
    name = models.CharField(max_length=60)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["location", "name"]
        constraints = [
            models.UniqueConstraint(fields=["location", "name"], name="chair_name_per_location")
        ]

    def __str__(self) -> str:
        return f"{self.location} / {self.name}"


class StaffShift(models.Model):
    """A staff member on site at a location from `starts_at` to `ends_at` (UTC)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shifts"
    )
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="shifts")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["location", "starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.location} {self.starts_at:%Y-%m-%d %H:%M}"


class AppointmentKind(models.TextChoices):
    CONSULTATION = "consultation", "Consultation"
    INFUSION = "infusion", "Infusion"
    FOLLOW_UP = "follow_up", "Follow-up"


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"
    COMPLETED = "completed", "Completed"


class Appointment(TimeStampedModel):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="appointments")
    chair = models.ForeignKey(
        Chair, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments"
    )
    kind = models.CharField(max_length=16, choices=AppointmentKind.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    # Appointments accepted together from one series proposal share this id.
    series = models.UUIDField(null=True, blank=True, db_index=True)
    # The treatment course an infusion belongs to (issue 8: course-driven booking).
    course = models.ForeignKey(
        "courses.TreatmentCourse",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointments",
    )
    status_reason = models.CharField(max_length=500, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    late_cancellation = models.BooleanField(default=False)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    # Pre-visit safety confirmation by the patient (PRE-4 fasting, PRE-5 escort, PRE-6 no
    # driving), shown to staff at check-in.
    safety_confirmed_at = models.DateTimeField(null=True, blank=True)
    escort_name = models.CharField(max_length=200, blank=True)
    escort_phone = models.CharField(max_length=32, blank=True)
    # The patient said in the portal that they will come (issue 18 section 1).
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["location", "starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="appointment_ends_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(kind="infusion") | Q(chair__isnull=False),
                name="infusion_has_chair",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.starts_at:%Y-%m-%d %H:%M} UTC"


class ReminderChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Reminder(models.Model):
    """One reminder per appointment, offset and channel (the unique constraint is what makes it
    "exactly once"): a worker claims the row, sends, then marks it sent."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    offset_hours = models.PositiveIntegerField()
    channel = models.CharField(max_length=8, choices=ReminderChannel.choices)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "offset_hours", "channel"], name="one_reminder_per_offset"
            )
        ]

    def __str__(self) -> str:
        return f"{self.appointment_id} -{self.offset_hours}h {self.channel}"


def new_feed_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A private iCalendar feed URL for a staff member or a patient; revoking deletes the row and
    the old URL answers 404."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token = models.CharField(max_length=64, unique=True, default=new_feed_token)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"feed for {self.user}"
