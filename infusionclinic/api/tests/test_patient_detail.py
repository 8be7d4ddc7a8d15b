"""GET and PATCH /patients/{id}: a record the caller may not see is a 404 (never 403) and leaves a
`denied` audit event; a read leaves a `view` event, a change an `update` event naming the fields;
a stale version is a 409 and bad input a 422, both changing nothing."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from infusionclinic.patients.models import Patient
from tests.factories import PatientFactory, add_weight, api_client, make_user

from .helpers import (
    assert_error,
    assert_field_error,
    events,
    get,
    patch_json,
    patient_state,
)

pytestmark = pytest.mark.django_db

STAFF = ["front_desk", "nurse", "prescriber", "admin"]


@pytest.fixture
def patient(location):
    return PatientFactory(
        home_location=location,
        given_name="Grace",
        family_name="Hopper",
        birth_date=date(1966, 12, 9),
        email="grace@example.com",
    )


@pytest.fixture
def south_patient(other_location):
    return PatientFactory(home_location=other_location)


# GET /patients/{id}


@pytest.mark.parametrize("role", STAFF)
def test_staff_read_a_patient_at_their_location_and_a_view_event_is_written(
    location, patient, role
):
    user = make_user(role, location)

    response = get(api_client(user), f"/patients/{patient.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == patient.pk
    assert body["mrn"] == patient.mrn
    assert body["given_name"] == "Grace"
    assert body["birth_date"] == "1966-12-09"
    assert body["version"] == 1
    (event,) = events("view")
    assert event.actor_id == user.pk
    assert event.patient_id == patient.pk
    assert event.object_id == str(patient.pk)
    assert event.channel == "api"


def test_read_shows_the_latest_weight_in_kg(location, patient):
    add_weight(patient, "70.0", date(2024, 1, 5))
    add_weight(patient, "72.5", date(2024, 6, 1))
    nurse = make_user("nurse", location)

    body = get(api_client(nurse), f"/patients/{patient.pk}").json()

    assert body["weight"]["unit"] == "kg"
    assert str(body["weight"]["value"]) == "72.5"
    assert body["weight"]["measured_on"] == "2024-06-01"


@pytest.mark.parametrize("role", STAFF)
def test_staff_of_another_location_get_404_and_a_denied_event(location, south_patient, role):
    user = make_user(role, location)

    response = get(api_client(user), f"/patients/{south_patient.pk}")

    assert_error(response, 404)
    assert events("view") == []
    (denied,) = events("denied")
    assert denied.actor_id == user.pk
    assert denied.detail["requested_id"] == str(south_patient.pk)


def test_a_hidden_patient_and_a_missing_id_give_the_same_404(location, south_patient):
    """Ids cannot be probed: 'exists elsewhere' and 'does not exist' answer alike."""
    client = api_client(make_user("admin", location))
    missing_id = Patient.objects.order_by("-pk").first().pk + 1000

    hidden = get(client, f"/patients/{south_patient.pk}")
    missing = get(client, f"/patients/{missing_id}")

    assert_error(hidden, 404)
    assert_error(missing, 404)
    assert hidden.content == missing.content


def test_a_patient_user_reads_their_own_record(location, patient):
    user = make_user("patient", patient=patient)

    response = get(api_client(user), f"/patients/{patient.pk}")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == patient.pk
    (event,) = events("view")
    assert event.actor_role == "patient"


def test_a_patient_user_gets_404_for_another_patient(location, patient):
    other = PatientFactory(home_location=location)
    user = make_user("patient", patient=patient)

    response = get(api_client(user), f"/patients/{other.pk}")

    assert_error(response, 404)
    assert events("view") == []
    (denied,) = events("denied")
    assert denied.actor_id == user.pk


@pytest.mark.parametrize("bad_id", ["abc", "1e3", "-1", "0", "99999999999999999999999"])
def test_a_non_numeric_or_nonexistent_id_answers_404_json(location, patient, bad_id):
    nurse = make_user("nurse", location)

    response = get(api_client(nurse), f"/patients/{bad_id}")

    body = assert_error(response, 404)
    assert body["errors"] == {}
    assert events("view") == []
    (denied,) = events("denied")
    assert denied.detail["requested_id"] == bad_id[:64]


# PATCH /patients/{id}


@pytest.mark.parametrize("role", STAFF)
def test_staff_change_demographics_bump_the_version_and_write_an_update_event(
    location, patient, role
):
    user = make_user(role, location)

    response = patch_json(
        api_client(user),
        f"/patients/{patient.pk}",
        {"version": 1, "preferred_name": "Amazing Grace", "phone": "+1 555 0199"},
    )

    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    assert response.json()["preferred_name"] == "Amazing Grace"
    stored = Patient.objects.get(pk=patient.pk)
    assert stored.preferred_name == "Amazing Grace"
    assert stored.phone == "+1 555 0199"
    assert stored.version == 2
    (event,) = events("update")
    assert event.actor_id == user.pk
    assert event.patient_id == patient.pk
    assert event.detail["fields"] == ["phone", "preferred_name"]


def test_patch_lists_only_the_fields_that_really_changed(location, patient):
    nurse = make_user("nurse", location)

    patch_json(
        api_client(nurse),
        f"/patients/{patient.pk}",
        {"version": 1, "given_name": "Grace", "email": "grace.hopper@example.com"},
    )

    (event,) = events("update")
    assert event.detail["fields"] == ["email"]


def test_a_patch_that_changes_nothing_keeps_the_version(location, patient):
    nurse = make_user("nurse", location)

    response = patch_json(
        api_client(nurse), f"/patients/{patient.pk}", {"version": 1, "given_name": "Grace"}
    )

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert events("update") == []


def test_patch_without_the_version_read_is_refused_so_nothing_is_overwritten_blind(
    location, patient
):
    nurse = make_user("nurse", location)
    before = patient_state(patient)
    response = patch_json(api_client(nurse), f"/patients/{patient.pk}", {"phone": "+1 555 0111"})
    assert_field_error(response, "version")
    assert patient_state(patient) == before


def test_patch_with_a_stale_version_answers_409_and_changes_nothing(location, patient):
    nurse = make_user("nurse", location)
    client = api_client(nurse)
    patch_json(client, f"/patients/{patient.pk}", {"version": 1, "phone": "+1 555 0111"})
    before = patient_state(patient)

    response = patch_json(client, f"/patients/{patient.pk}", {"version": 1, "phone": "+1 555 0222"})

    assert_error(response, 409)
    assert patient_state(patient) == before
    assert len(events("update")) == 1


def _future(location):
    return (timezone.localdate(timezone=location.tzinfo) + timedelta(days=2)).isoformat()


BAD_PATCHES = {
    "sex_at_birth robot": ({"sex_at_birth": "robot"}, "sex_at_birth"),
    "malformed email": ({"email": "grace@"}, "email"),
    "birth_date not a date": ({"birth_date": "yesterday"}, "birth_date"),
    "given_name null": ({"given_name": None}, "given_name"),
    "family_name blank": ({"family_name": "  "}, "family_name"),
    "given_name over 100 characters": ({"given_name": "G" * 101}, "given_name"),
    "country not two letters": ({"country": "U1"}, "country"),
    "mrn is not editable": ({"mrn": "123456789"}, "mrn"),
    "home location is not editable here": ({"location": "south"}, "location"),
    "unknown field": ({"shoe_size": 9}, "shoe_size"),
    "version not a number": ({"version": "latest"}, "version"),
}


@pytest.mark.parametrize(("changes", "field"), BAD_PATCHES.values(), ids=BAD_PATCHES.keys())
def test_invalid_patch_answers_422_with_the_field_and_changes_nothing(
    location, patient, changes, field
):
    nurse = make_user("nurse", location)
    before = patient_state(patient)

    response = patch_json(api_client(nurse), f"/patients/{patient.pk}", {"version": 1, **changes})

    assert_field_error(response, field)
    assert patient_state(patient) == before
    assert events("update") == []


def test_patch_with_a_future_birth_date_answers_422_and_changes_nothing(location, patient):
    nurse = make_user("nurse", location)
    before = patient_state(patient)

    response = patch_json(
        api_client(nurse),
        f"/patients/{patient.pk}",
        {"version": 1, "birth_date": _future(location), "phone": "+1 555 0123"},
    )

    assert_field_error(response, "birth_date")
    assert patient_state(patient) == before
    assert events("update") == []


def test_a_patient_user_may_not_patch_their_own_record(location, patient):
    """A patient sees their own chart, but the capability table gives patients no demographics
    edit: the record is visible, so the refusal is a 403."""
    user = make_user("patient", patient=patient)
    before = patient_state(patient)

    response = patch_json(
        api_client(user), f"/patients/{patient.pk}", {"version": 1, "phone": "+1 555 0100"}
    )

    assert_error(response, 403)
    assert patient_state(patient) == before
    assert events("update") == []


def test_a_patient_user_gets_404_patching_another_patient(location, patient):
    other = PatientFactory(home_location=location)
    user = make_user("patient", patient=patient)
    before = patient_state(other)

    response = patch_json(
        api_client(user), f"/patients/{other.pk}", {"version": 1, "phone": "+1 555 0100"}
    )

    assert_error(response, 404)
    assert patient_state(other) == before
    assert len(events("denied")) == 1


@pytest.mark.parametrize("role", STAFF)
def test_staff_get_404_patching_another_locations_patient(location, south_patient, role):
    user = make_user(role, location)
    before = patient_state(south_patient)

    response = patch_json(
        api_client(user), f"/patients/{south_patient.pk}", {"version": 1, "phone": "+1 555 0100"}
    )

    assert_error(response, 404)
    assert patient_state(south_patient) == before
    assert events("update") == []
    (denied,) = events("denied")
    assert denied.actor_id == user.pk


def test_patch_of_a_non_numeric_id_answers_404(location):
    nurse = make_user("nurse", location)

    response = patch_json(api_client(nurse), "/patients/abc", {"version": 1, "phone": "+1 5"})

    assert_error(response, 404)
