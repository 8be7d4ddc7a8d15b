"""Appointment reminders, each sent exactly once.

At booking, one `Reminder` row is written per configured offset (SCHEDULING_REMINDER_OFFSETS_HOURS)
and channel (email if the patient has an address, SMS if a phone number); the unique constraint
means there is never a second row. `reminders_dispatch` (run by `manage.py send_reminders`, e.g.
every 5 minutes from cron) enqueues a task for each reminder that is due. The task CLAIMS the row
with a conditional UPDATE (claimed_at IS NULL -> now) before sending, and marks it sent after: a
task run twice, a dispatcher run twice or a worker restarted mid-queue finds the row claimed and
sends nothing. (A worker killed between claim and send leaves a claimed, unsent row: the reminder
is then missed rather than sent twice; `reminders_stale` lists them for the front desk.)"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from infusionclinic.outcomes.selectors import assignments_active

from .ical import calendar_bytes
from .models import Appointment, AppointmentKind, AppointmentStatus, Reminder, ReminderChannel
from .sms import sms_provider


def reminders_create(*, appointment: Appointment) -> list[Reminder]:
    channels = []
    if appointment.patient.email:
        channels.append(ReminderChannel.EMAIL)
    if appointment.patient.phone:
        channels.append(ReminderChannel.SMS)
    return [
        Reminder.objects.get_or_create(
            appointment=appointment, offset_hours=hours, channel=channel
        )[0]
        for hours in settings.SCHEDULING_REMINDER_OFFSETS_HOURS
        for channel in channels
    ]


def reminders_reset(*, appointment: Appointment) -> None:
    """A moved appointment gets fresh reminders for its new time."""
    Reminder.objects.filter(appointment=appointment).update(claimed_at=None, sent_at=None)


def reminders_due(*, now: datetime | None = None) -> list[Reminder]:
    now = now or timezone.now()
    candidates = Reminder.objects.filter(
        claimed_at__isnull=True,
        appointment__status=AppointmentStatus.BOOKED,
        appointment__starts_at__gt=now,
        # Nothing is due earlier than the largest offset before the start.
        appointment__starts_at__lte=now
        + timedelta(hours=max(settings.SCHEDULING_REMINDER_OFFSETS_HOURS, default=0)),
    ).select_related("appointment")
    return [
        r for r in candidates if r.appointment.starts_at - timedelta(hours=r.offset_hours) <= now
    ]


def reminders_dispatch(*, now: datetime | None = None) -> int:
    due = reminders_due(now=now)
    for reminder in due:
        send_reminder_task.enqueue(reminder_id=reminder.pk)
    return len(due)


def reminders_stale(*, older_than: timedelta = timedelta(hours=1)) -> list[Reminder]:
    return list(
        Reminder.objects.filter(
            claimed_at__lt=timezone.now() - older_than, sent_at__isnull=True
        ).select_related("appointment")
    )


def reminder_text(appointment: Appointment) -> str:
    local = appointment.starts_at.astimezone(appointment.location.tzinfo)
    lines = [
        f"Your {appointment.get_kind_display().lower()} at {appointment.location.name} is on "
        f"{local:%A %d %B %Y at %H:%M} ({appointment.location.timezone}).",
    ]
    if appointment.kind == AppointmentKind.INFUSION:
        lines += [
            "",
            # PRE-4 fasting, PRE-5 escort, PRE-6 no driving.
            f"Fasting: no solid food for {settings.SCHEDULING_NPO_SOLIDS_H} hours before your "
            f"appointment; clear liquids are fine until {settings.SCHEDULING_NPO_CLEAR_H} hours "
            "before.",
            "Escort: a responsible adult must take you home. Bring their name and phone number; "
            "we cannot check you in without them.",
            "Do not drive or operate machinery until the next day, after a restful sleep.",
            "",
            "Please confirm your preparation (fasting, escort, no driving) here: "
            f"{settings.SCHEDULING_SITE_URL.rstrip('/')}/appointments/{appointment.pk}/confirm/",
        ]
        # Issue 5: the questionnaires assigned for the course are filled in before each infusion.
        codes = [a.instrument_code for a in assignments_active(patient=appointment.patient)]
        if codes:
            lines += [
                "",
                f"Before your infusion, please fill in your questionnaires ({', '.join(codes)}): "
                f"{settings.SCHEDULING_SITE_URL.rstrip('/')}{reverse('outcomes:my_list')}",
            ]
    return "\n".join(lines)


@task()
def send_reminder_task(*, reminder_id: int) -> None:
    now = timezone.now()
    claimed = Reminder.objects.filter(
        pk=reminder_id, claimed_at__isnull=True, sent_at__isnull=True
    ).update(claimed_at=now)
    if not claimed:
        return  # already sent, or another worker has it
    reminder = Reminder.objects.select_related(
        "appointment__patient", "appointment__location", "appointment__chair"
    ).get(pk=reminder_id)
    appointment = reminder.appointment
    if appointment.status != AppointmentStatus.BOOKED:
        return  # cancelled since: claimed, never sent
    body = reminder_text(appointment)
    if reminder.channel == ReminderChannel.EMAIL:
        message = EmailMultiAlternatives(
            subject=f"Reminder: {appointment.get_kind_display()} at {appointment.location.name}",
            body=body,
            to=[appointment.patient.email],
        )
        message.attach(
            "appointment.ics",
            calendar_bytes([appointment], method="REQUEST"),
            "text/calendar; method=REQUEST",
        )
        message.send()
    else:
        sms_provider().send(to=appointment.patient.phone, body=body)
    Reminder.objects.filter(pk=reminder_id).update(sent_at=timezone.now())
