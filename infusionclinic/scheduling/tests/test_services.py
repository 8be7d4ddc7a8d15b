"""Booking rules: each constraint refuses with its reason; series are all-or-nothing."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.intake.tests.factories import bookable_patient
from infusionclinic.patients.services import diagnosis_add
from infusionclinic.scheduling import services
from infusionclinic.scheduling.models import Appointment, AppointmentStatus, Holiday, StaffShift
from infusionclinic.scheduling.services import (
    BookingConflict,
    appointment_book,
    appointment_cancel,
    appointment_move,
    appointment_series_book,
)
from tests.factories import PatientFactory, make_user

from .factories import future_day, local, staffed_location

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(location):
    return make_user("front_desk", location)


@pytest.fixture
def chairs(location):
    return staffed_location(location)


def book(desk, location, patient=None, hour=10, day=None, kind="infusion", chair=None):
    return appointment_book(
        actor=desk,
        patient=patient or PatientFactory(home_location=location),
        location=location,
        kind=kind,
        starts_at=local(location, day or future_day(), hour),
        chair=chair,
    )


def test_infusion_length_is_prep_plus_dose4_40_min_plus_mont5_60_min_observation(
    desk, location, chairs
):
    appointment = book(desk, location)
    assert appointment.ends_at - appointment.starts_at == timedelta(minutes=20 + 40 + 60)
    assert appointment.chair == chairs[0]
    event = AuditEvent.objects.get(object_type="scheduling.Appointment")
    assert event.action == "create"
    assert event.patient_id == appointment.patient_id


def test_same_chair_same_time_is_refused_sequentially(desk, location, chairs):
    book(desk, location, chair=chairs[0])
    with pytest.raises(BookingConflict, match="Chair 1 is already booked"):
        book(desk, location, chair=chairs[0], hour=11)
    assert Appointment.objects.count() == 1


def test_patient_cannot_be_in_two_places_at_once(desk, location, chairs):
    patient = PatientFactory(home_location=location)
    book(desk, location, patient=patient, kind="consultation")
    with pytest.raises(BookingConflict, match="already has an appointment"):
        book(desk, location, patient=patient, kind="follow_up")


def test_infusion_needs_a_prescriber_on_shift_for_its_whole_length(desk, location, chairs):
    day = future_day()
    StaffShift.objects.filter(user__role="prescriber").update(
        starts_at=local(location, day, 8), ends_at=local(location, day, 11)
    )
    with pytest.raises(BookingConflict, match="No prescriber"):
        book(desk, location, day=day, hour=10)  # runs to 12:00
    assert book(desk, location, day=day, hour=8)


def test_nurse_to_chair_ratio_limits_concurrent_infusions(desk, location, settings):
    settings.SCHEDULING_CHAIRS_PER_NURSE = 1
    staffed_location(location, chairs=3, nurses=1)
    book(desk, location)
    with pytest.raises(BookingConflict, match="Not enough nurses"):
        book(desk, location, hour=11)
    settings.SCHEDULING_CHAIRS_PER_NURSE = 2
    assert book(desk, location, hour=11)


def test_no_free_chair_is_a_conflict(desk, location):
    staffed_location(location, chairs=1, nurses=2)
    book(desk, location)
    with pytest.raises(BookingConflict, match="No chair is free"):
        book(desk, location, hour=11)


def test_holiday_and_opening_hours_are_local_time(desk, location, chairs):
    day = future_day()
    Holiday.objects.create(location=location, date=day, name="Founders' day")
    with pytest.raises(BookingConflict, match="Founders' day"):
        book(desk, location, day=day)
    with pytest.raises(BookingConflict, match="Outside opening hours"):
        book(desk, location, day=day + timedelta(days=1), hour=17)  # 17:00-19:00 > 18:00
    with pytest.raises(BookingConflict, match="Outside opening hours"):
        book(desk, location, day=day + timedelta(days=1), hour=7)


def test_prot12_two_infusions_of_one_patient_at_least_48_h_apart(desk, location, chairs):
    patient = PatientFactory(home_location=location)
    day = future_day()
    book(desk, location, patient=patient, day=day)
    with pytest.raises(BookingConflict, match="PROT-12"):
        book(desk, location, patient=patient, day=day + timedelta(days=1))
    assert book(desk, location, patient=patient, day=day + timedelta(days=2))


def test_past_and_naive_times_are_invalid_input(desk, location, chairs):
    patient = PatientFactory(home_location=location)
    with pytest.raises(ValidationError):
        appointment_book(
            actor=desk,
            patient=patient,
            location=location,
            kind="consultation",
            starts_at=timezone.now() - timedelta(days=1),
        )
    with pytest.raises(ValidationError):
        appointment_book(
            actor=desk,
            patient=patient,
            location=location,
            kind="consultation",
            starts_at=local(location, future_day(), 10).replace(tzinfo=None),
        )


def test_staff_cannot_book_at_a_location_they_do_not_work_at(location, other_location, chairs):
    other_desk = make_user("front_desk", other_location)
    with pytest.raises(PermissionDenied):
        book(other_desk, location)
    with pytest.raises(PermissionDenied):
        book(make_user("patient"), location)


def test_cancellation_needs_a_reason_and_is_flagged_late_inside_cut_off(
    desk, location, chairs, monkeypatch
):
    early, late = book(desk, location, day=future_day(5)), book(desk, location, hour=13)
    with pytest.raises(ValidationError):
        appointment_cancel(actor=desk, appointment=early, reason="  ")
    early = appointment_cancel(actor=desk, appointment=early, reason="Patient unwell")
    assert early.status == AppointmentStatus.CANCELLED
    assert not early.late_cancellation
    # 23 h before the start: inside the default 24 h cut-off.
    monkeypatch.setattr(services.timezone, "now", lambda: late.starts_at - timedelta(hours=23))
    late = appointment_cancel(actor=desk, appointment=late, reason="Car broke down")
    assert late.late_cancellation


def test_late_cancellation_flag_follows_cut_off_setting(desk, location, chairs, settings):
    appointment = book(desk, location, day=future_day(3))
    settings.SCHEDULING_LATE_CANCEL_HOURS = 24 * 5
    appointment = appointment_cancel(actor=desk, appointment=appointment, reason="Travel")
    assert appointment.late_cancellation
    assert appointment.status_reason == "Travel"


def test_no_show_only_after_the_start(desk, location, chairs):
    appointment = book(desk, location)
    with pytest.raises(ValidationError):
        appointment_cancel(actor=desk, appointment=appointment, reason="absent", no_show=True)


def test_cancelled_slot_can_be_booked_again(desk, location, chairs):
    first = book(desk, location, chair=chairs[0])
    appointment_cancel(actor=desk, appointment=first, reason="Rescheduled")
    assert book(desk, location, chair=chairs[0])


def test_move_keeps_prot12_spacing_within_the_series(desk, location, chairs):
    patient = PatientFactory(home_location=location)
    day = future_day()
    starts = [local(location, day + timedelta(days=7 * n), 10) for n in range(3)]
    series = appointment_series_book(actor=desk, patient=patient, location=location, starts=starts)
    with pytest.raises(BookingConflict, match="PROT-12"):
        appointment_move(
            actor=desk,
            appointment=series[1],
            starts_at=local(location, day + timedelta(days=13), 10),
        )
    moved = appointment_move(
        actor=desk, appointment=series[1], starts_at=local(location, day + timedelta(days=9), 11)
    )
    assert moved.starts_at == local(location, day + timedelta(days=9), 11)


def test_series_is_all_or_nothing(desk, location, chairs):
    patient = PatientFactory(home_location=location)
    day = future_day()
    Holiday.objects.create(location=location, date=day + timedelta(days=14), name="Closed")
    starts = [local(location, day + timedelta(days=7 * n), 10) for n in range(3)]
    with pytest.raises(BookingConflict, match="Infusion 3 .*Nothing was booked"):
        appointment_series_book(actor=desk, patient=patient, location=location, starts=starts)
    assert not Appointment.objects.exists()
    assert not AuditEvent.objects.filter(object_type="scheduling.Appointment").exists()


def test_series_shares_one_series_id(desk, location, chairs):
    patient = PatientFactory(home_location=location)
    day = future_day()
    starts = [local(location, day + timedelta(days=7 * n), 10) for n in range(3)]
    booked = appointment_series_book(actor=desk, patient=patient, location=location, starts=starts)
    assert len({a.series for a in booked}) == 1
    assert booked[0].series is not None


@pytest.mark.intake_gate
def test_intake_gate_blocks_infusions_until_the_patient_is_cleared(desk, location, chairs):
    """An infusion is booked only for a patient intake clears (issue 4); a consultation needs no
    clearance."""
    patient = PatientFactory(home_location=location)
    with pytest.raises(BookingConflict, match="(?i)intake"):
        book(desk, location, patient=patient)
    assert book(desk, location, kind="consultation", patient=patient)
    make_user("patient", patient=patient)
    nurse = make_user("nurse", location)
    diagnosis_add(actor=make_user("prescriber", location), patient=patient, code="F43.10")
    bookable_patient(patient, staff=nurse)
    assert book(desk, location, patient=patient, day=future_day(12))


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="exclusion constraints exist only on PostgreSQL"
)
def test_postgresql_exclusion_constraint_refuses_overlap_written_around_the_service(
    desk, location, chairs
):
    first = book(desk, location, chair=chairs[0])
    other = PatientFactory(home_location=location)
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(
            patient=other,
            location=location,
            chair=chairs[0],
            kind="infusion",
            starts_at=first.starts_at + timedelta(minutes=30),
            ends_at=first.ends_at + timedelta(minutes=30),
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(
            patient=first.patient,
            location=location,
            kind="consultation",
            starts_at=first.starts_at,
            ends_at=first.ends_at,
        )


def _next_dst_change(location, after):
    """The first local date after `after` whose UTC offset differs from the day before."""
    day = after
    while True:
        day += timedelta(days=1)
        if (
            local(location, day, 12).utcoffset()
            != local(location, day - timedelta(days=1), 12).utcoffset()
        ):
            return day


def test_series_booked_across_a_holiday_and_a_dst_change_keeps_local_times(desk, location, chairs):
    from infusionclinic.scheduling.series import series_propose

    # The series: day 0, day 8 (day 7 is a holiday), day 14, with the DST change in between.
    first = _next_dst_change(location, future_day(9)) - timedelta(days=8)
    Holiday.objects.create(location=location, date=first + timedelta(days=7), name="Closed")
    starts = series_propose(
        first_date=first,
        count=3,
        interval_days=7,
        preferred_time=local(location, first, 9).time(),
        **services.location_calendar(location=location),
    )
    patient = PatientFactory(home_location=location)
    booked = appointment_series_book(actor=desk, patient=patient, location=location, starts=starts)
    local_starts = [a.starts_at.astimezone(location.tzinfo) for a in booked]
    assert [s.strftime("%H:%M") for s in local_starts] == ["09:00"] * 3
    assert local_starts[1].date() == first + timedelta(days=8)  # moved past the holiday
    assert len({s.utcoffset() for s in local_starts}) == 2  # the series spans the DST change
