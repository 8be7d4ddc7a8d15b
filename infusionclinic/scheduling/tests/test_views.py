"""Pages: day calendar per location in local time, move/cancel with the same checks, series
booking from the patient's page, the private revocable feed, and 404 across locations/patients."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from icalendar import Calendar

from infusionclinic.audit.models import AuditEvent
from infusionclinic.scheduling.models import Appointment, CalendarFeed
from infusionclinic.scheduling.services import appointment_book
from tests.factories import PatientFactory, logged_in_client, make_user

from .factories import future_day, local, staffed_location

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(location):
    return make_user("front_desk", location)


@pytest.fixture
def chairs(location):
    return staffed_location(location)


@pytest.fixture
def appointment(desk, location, chairs):
    return appointment_book(
        actor=desk,
        patient=PatientFactory(home_location=location, family_name="Quill"),
        location=location,
        kind="infusion",
        starts_at=local(location, future_day(), 10),
    )


def test_day_view_shows_chairs_as_columns_in_local_time(desk, location, appointment):
    url = f"/schedule/{location.code}/{future_day().isoformat()}/"
    html = logged_in_client(desk).get(url).content.decode()
    assert "Chair 1" in html
    assert "Chair 2" in html
    assert "10:00–12:00" in html  # America/New_York, not UTC
    assert "Quill" in html


def test_day_view_of_a_location_you_do_not_work_at_is_404(other_location, location, appointment):
    nurse = make_user("nurse", other_location)
    url = f"/schedule/{location.code}/{future_day().isoformat()}/"
    assert logged_in_client(nurse).get(url).status_code == 404


def test_appointment_page_is_404_for_another_locations_staff_and_another_patient(
    location, other_location, appointment
):
    url = f"/appointments/{appointment.pk}/"
    for user in (
        make_user("front_desk", other_location),
        make_user("prescriber", other_location),
        make_user("patient", patient=PatientFactory(home_location=location)),
    ):
        client = logged_in_client(user)
        assert client.get(url).status_code == 404
        response = client.post(url, {"action": "cancel", "reason": "x"})
        assert response.status_code == 404
        assert AuditEvent.objects.filter(actor=user, action="denied").count() == 2
    assert Appointment.objects.get().status == "booked"


def test_move_form_runs_the_booking_checks(desk, location, appointment):
    client = logged_in_client(desk)
    url = f"/appointments/{appointment.pk}/"
    day = future_day()
    response = client.post(url, {"action": "move", "date": day.isoformat(), "time": "17:00"})
    assert "Outside opening hours" in response.content.decode()
    response = client.post(url, {"action": "move", "date": day.isoformat(), "time": "13:00"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.starts_at == local(location, day, 13)


def test_cancel_form_records_reason(desk, appointment):
    response = logged_in_client(desk).post(
        f"/appointments/{appointment.pk}/", {"action": "cancel", "reason": "Flu"}
    )
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == "cancelled"
    assert appointment.status_reason == "Flu"


def test_front_desk_proposes_and_accepts_an_induction_series_in_one_step(desk, location, chairs):
    patient = PatientFactory(home_location=location)
    client = logged_in_client(desk)
    url = f"/patients/{patient.pk}/series/"
    form = {
        "location": location.pk,
        "first_date": future_day().isoformat(),
        "preferred_time": "09:00",
        "count": 3,
        "interval_days": 7,
    }
    html = client.post(url, {**form, "action": "propose"}).content.decode()
    starts = re.findall(r'name="starts" value="([^"]+)"', html)
    assert len(starts) == 3
    assert not Appointment.objects.exists()
    response = client.post(url, {**form, "action": "accept", "starts": starts})
    assert response.status_code == 302
    booked = Appointment.objects.filter(patient=patient)
    assert booked.count() == 3
    assert len({a.series for a in booked}) == 1


@pytest.mark.parametrize(
    ("phase", "count", "interval_days"),
    [("induction", 3, 7), ("maintenance", 1, 28)],  # protocol.md PROT-10, PROT-30 defaults
)
def test_series_follows_the_active_course_protocol_and_links_the_course(
    desk, location, chairs, phase, count, interval_days
):
    """Issue 8, course-driven booking: the patient's active course proposes its protocol
    version's induction series (PROT-10) or the next maintenance infusion (PROT-30), and the
    booked infusions belong to that course."""
    from infusionclinic.courses.models import TreatmentCourse
    from infusionclinic.courses.services import course_start

    patient = PatientFactory(home_location=location)
    course = course_start(
        actor=make_user("prescriber", location), patient=patient, indication="depression"
    )
    TreatmentCourse.objects.filter(pk=course.pk).update(phase=phase)
    client = logged_in_client(desk)
    url = f"/patients/{patient.pk}/series/"
    page = client.get(url)
    assert page.context["form"].initial == {"count": count, "interval_days": interval_days}
    assert "series-course" in page.content.decode()
    form = {
        "location": location.pk,
        "first_date": future_day().isoformat(),
        "preferred_time": "09:00",
        "count": count,
        "interval_days": interval_days,
    }
    html = client.post(url, {**form, "action": "propose"}).content.decode()
    starts = re.findall(r'name="starts" value="([^"]+)"', html)
    assert len(starts) == count
    client.post(url, {**form, "action": "accept", "starts": starts})
    booked = Appointment.objects.filter(patient=patient)
    assert booked.count() == count
    assert {a.course_id for a in booked} == {course.pk}


def test_private_feed_parses_and_is_revocable(desk, location, appointment):
    client = logged_in_client(desk)
    client.post("/calendar-feed/", {"action": "create"})
    token = CalendarFeed.objects.get(user=desk).token
    response = client.get(f"/calendar-feed/{token}.ics")
    assert response["Content-Type"].startswith("text/calendar")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert [e.decoded("dtstart") for e in events] == [appointment.starts_at]
    assert "Quill" not in response.content.decode()  # no names in a feed
    client.post("/calendar-feed/", {"action": "revoke"})
    assert client.get(f"/calendar-feed/{token}.ics").status_code == 404


def test_patient_feed_shows_only_their_own_appointments(desk, location, appointment):
    own = make_user("patient", patient=appointment.patient)
    other_patient = PatientFactory(home_location=location)
    appointment_book(
        actor=desk,
        patient=other_patient,
        location=location,
        kind="consultation",
        starts_at=local(location, future_day() + timedelta(days=1), 10),
    )
    feed = CalendarFeed.objects.create(user=own)
    response = logged_in_client(own).get(f"/calendar-feed/{feed.token}.ics")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert [str(e["uid"]) for e in events] == [
        f"appointment-{appointment.pk}@infusionclinic.invalid"
    ]


# --- Patient self-service ---------------------------------------------------------------------


@pytest.fixture
def patient_user(appointment):
    return make_user("patient", patient=appointment.patient)


def test_patient_sees_own_appointments_and_books_a_follow_up_in_a_free_slot(
    location, desk, appointment, patient_user, mailoutbox
):
    client = logged_in_client(patient_user)
    day = future_day() + timedelta(days=3)
    html = client.get("/my/appointments/", {"type": "follow_up", "date": day.isoformat()})
    html = html.content.decode()
    assert f"/appointments/{appointment.pk}/" in html
    starts = re.findall(r'name="starts_at" value="([^"]+)"', html)
    assert starts
    response = client.post(
        "/my/appointments/", {"type": "follow_up", "date": day.isoformat(), "starts_at": starts[0]}
    )
    assert response.status_code == 302
    booked = Appointment.objects.get(kind="follow_up")
    assert booked.patient == appointment.patient
    # The front desk is told, without the patient's name.
    assert [m.to for m in mailoutbox] == [[desk.email]]
    assert "Quill" not in mailoutbox[0].body


def test_patient_cannot_book_an_infusion_themselves(location, appointment, patient_user):
    with pytest.raises(PermissionDenied):
        appointment_book(
            actor=patient_user,
            patient=appointment.patient,
            location=location,
            kind="infusion",
            starts_at=local(location, future_day() + timedelta(days=4), 10),
        )


def test_patient_cancels_own_appointment_before_cut_off_but_not_after(
    location, appointment, patient_user, settings
):
    client = logged_in_client(patient_user)
    url = f"/appointments/{appointment.pk}/"
    settings.SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS = 24 * 30  # the appointment is now "too close"
    response = client.post(url, {"action": "cancel", "reason": "Away"})
    assert "please call the clinic" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == "booked"
    settings.SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS = 24
    response = client.post(url, {"action": "cancel", "reason": "Away"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == "cancelled"


def test_patient_reschedules_own_infusion_with_the_same_checks(location, appointment, patient_user):
    client = logged_in_client(patient_user)
    url = f"/appointments/{appointment.pk}/"
    day = future_day() + timedelta(days=2)
    response = client.post(url, {"action": "move", "date": day.isoformat(), "time": "07:00"})
    assert "Outside opening hours" in response.content.decode()
    response = client.post(url, {"action": "move", "date": day.isoformat(), "time": "11:00"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.starts_at == local(location, day, 11)


def test_my_appointments_is_for_patients_only(desk):
    assert logged_in_client(desk).get("/my/appointments/").status_code == 403


def test_pre_visit_safety_confirmation_pre4_pre5_pre6_shows_at_check_in(
    desk, location, appointment, patient_user
):
    client = logged_in_client(patient_user)
    url = f"/appointments/{appointment.pk}/confirm/"
    response = client.post(url, {"fasting": "on", "escort_name": "Sam", "escort_phone": ""})
    assert "phone number" in response.content.decode()  # PRE-5 needs name and phone
    appointment.refresh_from_db()
    assert appointment.safety_confirmed_at is None
    day_url = f"/schedule/{location.code}/{future_day().isoformat()}/"
    assert "safety not confirmed" in logged_in_client(desk).get(day_url).content.decode()
    response = client.post(
        url,
        {"fasting": "on", "no_driving": "on", "escort_name": "Sam", "escort_phone": "555-0100"},
    )
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.safety_confirmed_at is not None
    staff_page = logged_in_client(desk).get(f"/appointments/{appointment.pk}/").content.decode()
    assert "Confirmed by the patient (escort: Sam, 555-0100)" in staff_page


def test_safety_confirmation_is_the_patients_own(location, other_location, appointment):
    url = f"/appointments/{appointment.pk}/confirm/"
    stranger = make_user("patient", patient=PatientFactory(home_location=location))
    assert logged_in_client(stranger).get(url).status_code == 404
    assert logged_in_client(make_user("nurse", other_location)).get(url).status_code == 404


def test_week_view_lists_the_days_with_chairs_as_columns(
    desk, location, other_location, appointment
):
    first = future_day() - timedelta(days=2)
    url = f"/schedule/{location.code}/{first.isoformat()}/week/"
    html = logged_in_client(desk).get(url).content.decode()
    assert html.count('<tr><th scope="row">') == 7
    assert "Chair 2" in html
    assert "10:00</a> Infusion: Quill" in html
    assert logged_in_client(make_user("nurse", other_location)).get(url).status_code == 404
