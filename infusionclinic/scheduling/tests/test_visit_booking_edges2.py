"""Issue 21 point 2 (a): staff book a single visit — a consultation, a follow-up or a single
infusion — from a free cell of the day calendar or from the patient's chart, through
`appointment_book` with every booking check, the errors on the form, audited."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.outcomes.models import SafetyAlert
from infusionclinic.outcomes.tests.factories import submit
from infusionclinic.scheduling.models import Appointment
from infusionclinic.scheduling.services import appointment_book
from tests.factories import PatientFactory, logged_in_client, make_user

from .factories import future_day, local, staffed_location

pytestmark = pytest.mark.django_db


@pytest.fixture
def chairs(location):
    return staffed_location(location)


@pytest.fixture
def desk(location):
    return make_user("front_desk", location)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location, family_name="Quill", given_name="Ada")


def _visit(location, *, kind="consultation", time="10:00", chair=None, day=None):
    form = {
        "kind": kind,
        "location": location.pk,
        "date": (day or future_day()).isoformat(),
        "time": time,
    }
    if chair is not None:
        form["chair"] = chair.pk
    return form


def test_day_calendar_free_cells_link_to_booking_with_chair_and_time_issue21_point2(
    desk, location, chairs, patient
):
    appointment_book(
        actor=desk,
        patient=patient,
        location=location,
        kind="infusion",
        starts_at=local(location, future_day(), 10),
        chair=chairs[0],
    )
    day = future_day().isoformat()
    html = logged_in_client(desk).get(f"/schedule/{location.code}/{day}/").content.decode()
    links = re.findall(r'class="free-slot" href="([^"]+)"', html)
    base = f"/schedule/{location.code}/book/?date={day}"
    # Chair 2 is free at 10:00; Chair 1 holds the infusion from 10:00 to 12:00 (local time).
    assert f"{base}&amp;time=10:00&amp;chair={chairs[1].pk}" in links
    assert f"{base}&amp;time=10:00&amp;chair={chairs[0].pk}" not in links
    assert f"{base}&amp;time=11:00&amp;chair={chairs[0].pk}" not in links
    assert f"{base}&amp;time=12:00&amp;chair={chairs[0].pk}" in links
    assert f"{base}&amp;time=10:00" in links  # the "No chair" column: consultations
    assert "10:00–12:00" in html


def test_slot_page_finds_the_patient_and_hands_the_slot_on_issue21_point2(
    desk, location, other_location, chairs, patient
):
    PatientFactory(home_location=other_location, family_name="Quillon")
    client = logged_in_client(desk)
    day = future_day().isoformat()
    url = f"/schedule/{location.code}/book/?date={day}&time=10:00&chair={chairs[1].pk}"
    assert "Chair 2" in client.get(url).content.decode()
    html = client.post(url, {"q": "quill"}).content.decode()
    links = re.findall(r'href="(/patients/\d+/book/[^"]*)"', html)
    assert len(links) == 1
    assert links[0].startswith(f"/patients/{patient.pk}/book/?")
    query = dict(part.split("=") for part in links[0].split("?")[1].split("&amp;"))
    assert query == {
        "chair": str(chairs[1].pk),
        "date": day,
        "time": "10%3A00",
        "location": location.code,
    }
    assert "Quillon" not in html  # another location's patient
    assert AuditEvent.objects.filter(actor=desk, action="search", detail__q="quill").exists()
    other = make_user("front_desk", other_location)
    assert logged_in_client(other).get(url).status_code == 404


def test_booking_form_is_prefilled_from_the_calendar_cell_issue21_point2(
    desk, location, chairs, patient
):
    day = future_day().isoformat()
    url = (
        f"/patients/{patient.pk}/book/?date={day}&time=10:00&chair={chairs[1].pk}"
        f"&location={location.code}"
    )
    html = logged_in_client(desk).get(url).content.decode()
    assert f'<option value="{chairs[1].pk}" selected>' in html
    assert f'value="{day}"' in html
    assert 'value="10:00"' in html
    assert '<option value="infusion" selected>' in html
    assert AuditEvent.objects.filter(actor=desk, action="view", patient=patient).exists()


def test_front_desk_books_a_consultation_from_the_chart_issue21_point2(
    desk, location, chairs, patient
):
    client = logged_in_client(desk)
    chart = client.get(f"/patients/{patient.pk}/").content.decode()
    assert f'href="/patients/{patient.pk}/book/">Book a visit</a>' in chart
    response = client.post(f"/patients/{patient.pk}/book/", _visit(location, time="14:30"))
    booked = Appointment.objects.get(patient=patient)
    assert response.status_code == 302
    assert response.url == f"/appointments/{booked.pk}/"
    assert booked.kind == "consultation"
    assert booked.starts_at == local(location, future_day(), 14, 30)  # local, America/New_York
    assert booked.chair is None
    assert booked.booked_by == desk
    assert AuditEvent.objects.filter(
        actor=desk, action="create", patient=patient, object_id=str(booked.pk)
    ).exists()


@pytest.mark.parametrize("role", ["nurse", "prescriber", "admin"])
def test_every_booking_role_books_a_follow_up_issue21_point2(role, location, chairs, patient):
    client = logged_in_client(make_user(role, location))
    response = client.post(f"/patients/{patient.pk}/book/", _visit(location, kind="follow_up"))
    assert response.status_code == 302
    assert Appointment.objects.get(patient=patient).kind == "follow_up"


def test_single_infusion_books_in_the_chosen_chair_issue21_point2(desk, location, chairs, patient):
    response = logged_in_client(desk).post(
        f"/patients/{patient.pk}/book/", _visit(location, kind="infusion", chair=chairs[1])
    )
    assert response.status_code == 302
    booked = Appointment.objects.get(patient=patient)
    assert (booked.kind, booked.chair, booked.series) == ("infusion", chairs[1], None)
    assert booked.ends_at - booked.starts_at == timedelta(minutes=120)


def test_another_locations_patient_is_404_and_nothing_is_booked_issue21_point2(
    desk, location, other_location, chairs
):
    stranger = PatientFactory(home_location=other_location)
    client = logged_in_client(desk)
    url = f"/patients/{stranger.pk}/book/"
    assert client.get(url).status_code == 404
    assert client.post(url, _visit(location)).status_code == 404
    assert not Appointment.objects.exists()
    assert AuditEvent.objects.filter(actor=desk, action="denied").count() == 2


def test_a_patient_cannot_use_the_staff_booking_form_issue21_point2(location, chairs, patient):
    own = logged_in_client(make_user("patient", patient=patient))
    assert own.post(f"/patients/{patient.pk}/book/", _visit(location)).status_code == 403
    assert not Appointment.objects.exists()


def test_a_clash_shows_the_error_and_books_nothing_issue21_point2(desk, location, chairs, patient):
    client = logged_in_client(desk)
    client.post(f"/patients/{patient.pk}/book/", _visit(location, time="10:00"))
    # The same patient at an overlapping time.
    clash = client.post(f"/patients/{patient.pk}/book/", _visit(location, time="10:15"))
    assert clash.status_code == 400
    assert "The patient already has an appointment at that time." in clash.content.decode()
    # Another patient in a chair that is taken.
    other = PatientFactory(home_location=location)
    appointment_book(
        actor=desk,
        patient=other,
        location=location,
        kind="infusion",
        starts_at=local(location, future_day(), 13),
        chair=chairs[0],
    )
    taken = client.post(
        f"/patients/{patient.pk}/book/",
        _visit(location, kind="infusion", time="13:30", chair=chairs[0]),
    )
    assert "Chair 1 is already booked at that time." in taken.content.decode()
    # Outside opening hours (08:00-18:00 local).
    late = client.post(f"/patients/{patient.pk}/book/", _visit(location, time="17:50"))
    assert "Outside opening hours" in late.content.decode()
    assert Appointment.objects.filter(patient=patient).count() == 1


def test_a_chair_of_another_location_is_refused_on_the_form_issue21_point2(
    location, other_location, chairs, patient
):
    staffed_location(other_location, chairs=1)
    both = make_user("nurse", location, other_location)
    south_chair = other_location.chairs.get()
    response = logged_in_client(both).post(
        f"/patients/{patient.pk}/book/", _visit(location, kind="infusion", chair=south_chair)
    )
    assert response.status_code == 400
    assert "is not at North" in response.content.decode()
    assert not Appointment.objects.exists()


@pytest.mark.intake_gate
def test_a_single_infusion_runs_the_intake_gate_issue21_point2(desk, location, chairs, patient):
    """A patient intake has not cleared (PROT-3: no submitted intake) gets no infusion; a
    consultation can still be booked."""
    client = logged_in_client(desk)
    refused = client.post(
        f"/patients/{patient.pk}/book/", _visit(location, kind="infusion", chair=chairs[0])
    )
    assert refused.status_code == 400
    assert "The intake has not been submitted (PROT-3)." in refused.content.decode()
    assert not Appointment.objects.exists()
    assert client.post(f"/patients/{patient.pk}/book/", _visit(location)).status_code == 302


def test_an_open_safety_alert_warns_and_needs_the_box_issue21_point2_scale4(
    desk, location, chairs, patient
):
    submit(
        patient,
        "PHQ-9",
        [1, 1, 1, 1, 1, 1, 1, 1, 1],
        timezone.now() - timedelta(hours=1),
        make_user("patient", patient=patient),
    )
    alert = SafetyAlert.objects.get(patient=patient)
    client = logged_in_client(desk)
    url = f"/patients/{patient.pk}/book/"
    page = client.get(url).content.decode()
    assert 'name="safety_alert_seen"' in page
    assert alert.message not in page  # front desk: no clinical detail
    refused = client.post(url, _visit(location))
    assert refused.status_code == 400
    assert "tick" in refused.content.decode()
    assert not Appointment.objects.exists()
    assert client.post(url, {**_visit(location), "safety_alert_seen": "on"}).status_code == 302
    assert Appointment.objects.filter(patient=patient).exists()
    assert AuditEvent.objects.filter(
        patient=patient, detail__step="visit-book", detail__safety_alerts_seen=[alert.pk]
    ).exists()


def test_a_single_infusion_is_linked_to_the_active_course_a_consultation_is_not_issue21_point2(
    desk, location, chairs, patient
):
    from infusionclinic.courses.services import course_start

    prescriber = make_user("prescriber", location)
    course = course_start(actor=prescriber, patient=patient, indication="depression")
    client = logged_in_client(desk)
    url = f"/patients/{patient.pk}/book/"
    assert client.post(url, _visit(location, kind="infusion", time="09:00")).status_code == 302
    assert client.post(url, _visit(location, time="15:00")).status_code == 302
    infusion = Appointment.objects.get(patient=patient, kind="infusion")
    consultation = Appointment.objects.get(patient=patient, kind="consultation")
    assert infusion.course == course
    assert infusion.chair is not None  # the first free chair
    assert consultation.course is None


def test_an_appointment_outside_todays_hours_stays_on_the_calendar_issue21_point2(
    desk, location, chairs, patient
):
    """The grid follows opening hours; an appointment booked before the hours changed (or a
    holiday was added) is listed apart, never dropped."""
    from infusionclinic.scheduling.models import OpeningHours

    appointment_book(
        actor=desk,
        patient=patient,
        location=location,
        kind="consultation",
        starts_at=local(location, future_day(), 10),
    )
    OpeningHours.objects.filter(location=location, weekday=future_day().weekday()).delete()
    html = logged_in_client(desk).get(f"/schedule/{location.code}/{future_day()}/").content
    html = html.decode()
    assert 'id="day-closed"' in html
    assert 'class="free-slot"' not in html
    assert "Outside opening hours" in html
    assert "Quill, Ada" in html
