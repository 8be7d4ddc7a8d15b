"""Reminders: sent once per appointment and offset, even when dispatched twice and run by two
worker passes, over real SMTP (aiosmtpd in the test process); the .ics parses back."""

import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from icalendar import Calendar

from infusionclinic.scheduling.models import Reminder
from infusionclinic.scheduling.reminders import (
    reminder_text,
    reminders_dispatch,
    send_reminder_task,
)
from infusionclinic.scheduling.services import appointment_book, appointment_cancel
from tests.factories import PatientFactory, make_user

from .factories import future_day, local, staffed_location


def _book(location, **patient_fields):
    staffed_location(location)
    desk = make_user("front_desk", location)
    patient = PatientFactory(home_location=location, **patient_fields)
    appointment = appointment_book(
        actor=desk,
        patient=patient,
        location=location,
        kind="infusion",
        starts_at=local(location, future_day(), 10),
    )
    return desk, appointment


def _worker():
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False)


@pytest.mark.django_db(transaction=True)
def test_each_reminder_is_sent_exactly_once_over_smtp_with_an_ics_invitation(
    location,
    smtp_inbox,
    caplog,
):
    inbox = smtp_inbox
    _, appointment = _book(location, phone="+1 555 010 0199")
    assert Reminder.objects.filter(appointment=appointment).count() == 4  # 72 h, 24 h x email, SMS
    caplog.set_level(logging.INFO, logger="infusionclinic.scheduling.sms")
    with inbox.settings():
        at_71h = appointment.starts_at - timedelta(hours=71)
        assert reminders_dispatch(now=at_71h) == 2  # the 72 h email and SMS
        _worker()
        # A second dispatcher run finds nothing unclaimed; re-enqueued tasks (a worker restart
        # replaying its queue) find the rows claimed and send nothing.
        assert reminders_dispatch(now=at_71h) == 0
        for reminder in Reminder.objects.filter(offset_hours=72):
            send_reminder_task.enqueue(reminder_id=reminder.pk)
        _worker()
        assert len(inbox.messages) == 1
        assert reminders_dispatch(now=appointment.starts_at - timedelta(hours=23)) == 2
        _worker()
    assert len(inbox.messages) == 2
    assert Reminder.objects.filter(sent_at__isnull=False).count() == 4
    assert len([r for r in caplog.records if "SMS to ***99" in r.getMessage()]) == 2
    message = inbox.messages[0]
    assert message["To"] == appointment.patient.email
    body = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    assert "no solid food for 6 hours" in body.get_payload(decode=True).decode()  # PRE-4
    ics = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    event = Calendar.from_ical(ics.get_payload(decode=True)).walk("VEVENT")[0]
    assert event.decoded("dtstart") == appointment.starts_at
    assert event.decoded("dtend") == appointment.ends_at
    assert str(event["uid"]).startswith(f"appointment-{appointment.pk}@")


@pytest.mark.django_db
def test_cancelled_appointment_gets_no_reminder(location, mailoutbox):
    desk, appointment = _book(location)
    appointment_cancel(actor=desk, appointment=appointment, reason="Patient asked")
    assert reminders_dispatch(now=appointment.starts_at - timedelta(hours=1)) == 0
    assert mailoutbox == []


@pytest.mark.django_db
def test_reminder_text_has_prep_instructions_pre4_pre5_pre6(location):
    _, appointment = _book(location)
    text = reminder_text(appointment)
    assert "clear liquids are fine until 2 hours" in text  # PRE-4
    assert "responsible adult" in text  # PRE-5
    assert "Do not drive" in text  # PRE-6
    assert "10:00" in text  # local time at the location
    assert f"/appointments/{appointment.pk}/confirm/" in text  # issue 8 item 7
    assert "questionnaires" not in text  # none assigned


def test_reminder_links_the_questionnaires_assigned_to_the_patient(location):
    """Issue 5: the patient completes the assigned questionnaires before each infusion, from a
    link in the reminder the day before."""
    from infusionclinic.outcomes.models import InstrumentAssignment

    _, appointment = _book(location)
    InstrumentAssignment.objects.create(patient=appointment.patient, instrument_code="PHQ-9")
    text = reminder_text(appointment)
    assert "please fill in your questionnaires (PHQ-9)" in text
    assert "/my/questionnaires/" in text
