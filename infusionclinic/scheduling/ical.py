"""iCalendar (RFC 5545) for appointments, built with the `icalendar` library: the invitation
attached to reminders and the private feeds. Summaries carry no patient name: a feed URL can
leak, so it shows what and where, not who."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event

from .models import Appointment, AppointmentStatus


def _uid(appointment: Appointment) -> str:
    return f"appointment-{appointment.pk}@{settings.ICAL_UID_DOMAIN}"


def appointment_event(appointment: Appointment, *, for_staff: bool = False) -> Event:
    event = Event()
    event.add("uid", _uid(appointment))
    event.add("dtstamp", timezone.now())
    event.add("dtstart", appointment.starts_at)
    event.add("dtend", appointment.ends_at)
    summary = f"{appointment.get_kind_display()} at {appointment.location.name}"
    if for_staff and appointment.chair:
        summary += f", {appointment.chair.name} (#{appointment.pk})"
    event.add("summary", summary)
    event.add("location", appointment.location.name)
    event.add("sequence", int(appointment.updated_at.timestamp()))
    event.add(
        "status", "CANCELLED" if appointment.status == AppointmentStatus.CANCELLED else "CONFIRMED"
    )
    return event


def calendar_bytes(
    appointments: Iterable[Appointment], *, method: str | None = None, for_staff: bool = False
) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Infusion Clinic//Scheduling//EN")
    cal.add("version", "2.0")
    if method:
        cal.add("method", method)
    for appointment in appointments:
        cal.add_component(appointment_event(appointment, for_staff=for_staff))
    return cal.to_ical()
