"""Records entered late (issue 21 point 1, the demo's history): booking as of an earlier moment
(`now=`), and a visit that took place marked completed, which billing invoices."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.scheduling.models import AppointmentStatus
from infusionclinic.scheduling.services import appointment_book, appointment_complete
from tests.factories import PatientFactory, make_user

from .factories import local, staffed_location

pytestmark = pytest.mark.django_db


def _past_weekday(days: int):  # noqa: ANN202
    day = timezone.localdate() - timedelta(days=days)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def test_booking_in_the_past_is_refused_unless_booked_as_of_an_earlier_moment(location):
    staffed_location(location)
    desk = make_user("front_desk", location)
    patient = PatientFactory(home_location=location)
    starts = local(location, _past_weekday(3), 10)
    with pytest.raises(ValidationError, match="must be in the future"):
        appointment_book(
            actor=desk, patient=patient, location=location, kind="consultation", starts_at=starts
        )
    appointment = appointment_book(
        actor=desk,
        patient=patient,
        location=location,
        kind="consultation",
        starts_at=starts,
        now=starts - timedelta(days=2),
    )
    assert appointment.status == AppointmentStatus.BOOKED


def test_appointment_complete_marks_a_started_visit_completed_with_its_time(location):
    staffed_location(location)
    desk = make_user("front_desk", location)
    patient = PatientFactory(home_location=location)
    starts = local(location, _past_weekday(3), 10)
    appointment = appointment_book(
        actor=desk,
        patient=patient,
        location=location,
        kind="consultation",
        starts_at=starts,
        now=starts - timedelta(days=2),
    )
    done = appointment_complete(
        actor=desk, appointment=appointment, at=starts + timedelta(minutes=50)
    )
    assert done.status == AppointmentStatus.COMPLETED
    assert done.status_changed_at == starts + timedelta(minutes=50)
    assert AuditEvent.objects.filter(
        object_type="scheduling.Appointment", action="update", detail__status="completed"
    ).exists()
    assert appointment_complete(actor=desk, appointment=done).status == "completed"  # once
