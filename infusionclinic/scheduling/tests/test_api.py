"""The scheduling API: availability, booking (409 with the reason, 422 on bad input), and 404 for
appointments of another location or another patient."""

from datetime import date, timedelta

import pytest

from infusionclinic.audit.models import AuditEvent
from infusionclinic.scheduling.models import Appointment, Holiday
from tests.factories import PatientFactory, api_client, make_user

from .factories import future_day, local, staffed_location

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(location):
    return make_user("front_desk", location)


@pytest.fixture
def chairs(location):
    return staffed_location(location, chairs=1, nurses=1)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


def post_booking(client, patient, location, when, kind="infusion", **extra):
    return client.post(
        "/api/v1/appointments",
        {
            "patient_id": patient.pk,
            "location": location.code,
            "type": kind,
            "starts_at": when.isoformat(),
            **extra,
        },
        content_type="application/json",
    )


def test_availability_lists_local_slots_and_drops_booked_ones(desk, location, chairs, patient):
    client = api_client(desk)
    day = future_day()
    url = f"/api/v1/availability?location={location.code}&date={day}&type=infusion"
    slots = client.get(url).json()
    # Open 08:00-18:00, 2 h infusions on a 15-min grid: 08:00 ... 16:00.
    assert slots[0]["chair"] == "Chair 1"
    assert len(slots) == 33
    assert post_booking(client, patient, location, local(location, day, 10)).status_code == 201
    starts = {s["starts_at"] for s in client.get(url).json()}
    assert len(starts) == 33 - 15  # 08:15 .. 11:45 now overlap the booked chair


def test_availability_is_empty_on_a_holiday(desk, location, chairs):
    day = future_day()
    Holiday.objects.create(location=location, date=day, name="Closed")
    url = f"/api/v1/availability?location={location.code}&date={day}&type=consultation"
    assert api_client(desk).get(url).json() == []


def test_booking_answers_201_then_409_with_the_reason(desk, location, chairs, patient):
    client = api_client(desk)
    when = local(location, future_day(), 10)
    response = post_booking(client, patient, location, when)
    assert response.status_code == 201
    assert response.json()["chair"] == "Chair 1"
    response = post_booking(client, PatientFactory(home_location=location), location, when)
    assert response.status_code == 409
    assert "No chair is free" in response.json()["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"type": "massage"},
        {"starts_at": "tomorrow"},
        {"starts_at": "2030-01-07T10:00:00"},  # no time zone
        {"chair_id": 999999},
        {"extra": 1},
    ],
)
def test_bad_input_answers_422(desk, location, chairs, patient, change):
    body = {
        "patient_id": patient.pk,
        "location": location.code,
        "type": "infusion",
        "starts_at": local(location, future_day(), 10).isoformat(),
        **change,
    }
    response = api_client(desk).post("/api/v1/appointments", body, content_type="application/json")
    assert response.status_code == 422, response.json()
    assert not Appointment.objects.exists()


def test_booking_for_a_patient_of_another_location_is_404(desk, location, other_location, chairs):
    stranger = PatientFactory(home_location=other_location)
    response = post_booking(api_client(desk), stranger, location, local(location, future_day(), 10))
    assert response.status_code == 404


def test_patient_role_cannot_book_through_staff_api(location, chairs, patient):
    user = make_user("patient", patient=patient)
    response = post_booking(api_client(user), patient, location, local(location, future_day(), 10))
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["", "/cancel"])
def test_appointment_routes_are_404_for_another_locations_staff_and_another_patient(
    desk, location, other_location, chairs, patient, path
):
    response = post_booking(api_client(desk), patient, location, local(location, future_day(), 10))
    appointment_id = response.json()["id"]
    other_staff = make_user("nurse", other_location)
    other_patient = make_user("patient", patient=PatientFactory(home_location=location))
    for user in (other_staff, other_patient):
        client = api_client(user)
        url = f"/api/v1/appointments/{appointment_id}{path}"
        if path:
            response = client.post(url, {"reason": "x"}, content_type="application/json")
        else:
            response = client.get(url)
        assert response.status_code == 404
        assert AuditEvent.objects.filter(
            actor=user, action="denied", detail__requested_id=str(appointment_id)
        ).exists()
    own = make_user("patient", patient=patient)
    assert api_client(own).get(f"/api/v1/appointments/{appointment_id}").status_code == 200
    assert Appointment.objects.get().status == "booked"


def test_cancel_through_api_records_reason(desk, location, chairs, patient):
    client = api_client(desk)
    created = post_booking(client, patient, location, local(location, future_day(), 10)).json()
    response = client.post(
        f"/api/v1/appointments/{created['id']}/cancel",
        {"reason": "Patient asked"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["status_reason"] == "Patient asked"


def test_series_proposal_defaults_to_prot10_and_acceptance_books_all(
    desk, location, chairs, patient
):
    client = api_client(desk)
    first = future_day()
    Holiday.objects.create(location=location, date=first + timedelta(days=7), name="Closed")
    proposal = client.post(
        "/api/v1/appointment-series/proposal",
        {"location": location.code, "first_date": str(first), "preferred_time": "09:30"},
        content_type="application/json",
    ).json()
    assert len(proposal) == 3  # PROT-10 default induction count
    response = client.post(
        "/api/v1/appointment-series",
        {"patient_id": patient.pk, "location": location.code, "starts": proposal},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    booked = Appointment.objects.filter(patient=patient).order_by("starts_at")
    local_days = [a.starts_at.astimezone(location.tzinfo).date() for a in booked]
    assert local_days == [first, first + timedelta(days=8), first + timedelta(days=14)]
    assert {a.starts_at.astimezone(location.tzinfo).strftime("%H:%M") for a in booked} == {"09:30"}


def test_maintenance_phase_proposes_prot30_interval(desk, location, chairs):
    proposal = (
        api_client(desk)
        .post(
            "/api/v1/appointment-series/proposal",
            {
                "location": location.code,
                "first_date": str(future_day()),
                "preferred_time": "09:30",
                "phase": "maintenance",
                "count": 2,
            },
            content_type="application/json",
        )
        .json()
    )
    days = [date.fromisoformat(p[:10]) for p in proposal]
    assert days[1] - days[0] == timedelta(days=28)  # PROT-30 default


@pytest.mark.parametrize(
    "query", ["date=2030-02-30&type=infusion", "type=infusion", "date=2030-01-07&type=spa"]
)
def test_availability_bad_input_answers_422(desk, location, chairs, query):
    response = api_client(desk).get(f"/api/v1/availability?location={location.code}&{query}")
    assert response.status_code == 422


def test_availability_at_a_location_you_do_not_work_at_is_404(location, other_location, chairs):
    nurse = make_user("nurse", other_location)
    url = f"/api/v1/availability?location={location.code}&date={future_day()}&type=infusion"
    assert api_client(nurse).get(url).status_code == 404
