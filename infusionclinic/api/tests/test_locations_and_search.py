"""GET /locations and GET /patients?q=: staff see their own locations and only those locations'
patients; a patient searches nothing; every search is audited with what it returned."""

from datetime import date

import pytest

from tests.factories import LocationFactory, PatientFactory, api_client, make_user

from .helpers import assert_error, events, get

pytestmark = pytest.mark.django_db


# GET /locations


@pytest.mark.parametrize("role", ["front_desk", "nurse", "prescriber", "admin"])
def test_locations_lists_exactly_the_callers_locations(location, other_location, role):
    third = LocationFactory(code="east", name="East", timezone="America/Chicago")
    user = make_user(role, location, third)

    response = get(api_client(user), "/locations")

    assert response.status_code == 200
    assert sorted(response.json(), key=lambda loc: loc["code"]) == [
        {"code": "east", "name": "East", "timezone": "America/Chicago"},
        {"code": "north", "name": "North", "timezone": "America/New_York"},
    ]


def test_locations_items_have_only_code_name_and_timezone(location):
    user = make_user("nurse", location)

    (item,) = get(api_client(user), "/locations").json()

    assert set(item) == {"code", "name", "timezone"}


def test_locations_is_empty_for_a_patient_user(location):
    patient = PatientFactory(home_location=location)
    user = make_user("patient", patient=patient)

    response = get(api_client(user), "/locations")

    assert response.status_code == 200
    assert response.json() == []


# GET /patients?q=


@pytest.fixture
def north_and_south(location, other_location):
    """Two patients at north, and at south one whose name, birth date and MRN also match."""
    ada = PatientFactory(
        home_location=location,
        given_name="Ada",
        family_name="Lovelace",
        birth_date=date(1985, 12, 10),
    )
    alan = PatientFactory(
        home_location=location,
        given_name="Alan",
        family_name="Turing",
        birth_date=date(1972, 6, 23),
    )
    south_ada = PatientFactory(
        home_location=other_location,
        given_name="Ada",
        family_name="Lovelock",
        birth_date=date(1985, 12, 10),
    )
    return ada, alan, south_ada


def _ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()]


def test_search_by_name_prefix_finds_own_location_patients_only(location, north_and_south):
    ada, _alan, _south_ada = north_and_south
    nurse = make_user("nurse", location)

    assert _ids(get(api_client(nurse), "/patients", q="love")) == [ada.pk]
    assert _ids(get(api_client(nurse), "/patients", q="ADA")) == [ada.pk]


def test_search_by_given_and_family_name_prefixes_together(location, north_and_south):
    ada, _alan, _south_ada = north_and_south
    nurse = make_user("nurse", location)

    assert _ids(get(api_client(nurse), "/patients", q="ad lov")) == [ada.pk]
    assert _ids(get(api_client(nurse), "/patients", q="ad tur")) == []


def test_search_by_preferred_name_prefix(location):
    patient = PatientFactory(home_location=location, given_name="Robert", preferred_name="Bobby")
    nurse = make_user("nurse", location)

    assert _ids(get(api_client(nurse), "/patients", q="bob")) == [patient.pk]


def test_search_by_mrn_is_exact_and_location_scoped(location, north_and_south):
    ada, alan, south_ada = north_and_south
    front_desk = make_user("front_desk", location)
    client = api_client(front_desk)

    assert _ids(get(client, "/patients", q=alan.mrn)) == [alan.pk]
    assert _ids(get(client, "/patients", q=south_ada.mrn)) == []


@pytest.mark.parametrize("dob", ["1985-12-10", "12/10/1985"])
def test_search_by_date_of_birth_in_iso_or_us_format(location, north_and_south, dob):
    ada, _alan, _south_ada = north_and_south
    prescriber = make_user("prescriber", location)

    assert _ids(get(api_client(prescriber), "/patients", q=dob)) == [ada.pk]


def test_staff_of_both_locations_find_patients_at_both(location, other_location, north_and_south):
    ada, _alan, south_ada = north_and_south
    admin = make_user("admin", location, other_location)

    assert set(_ids(get(api_client(admin), "/patients", q="ada"))) == {ada.pk, south_ada.pk}


def test_search_result_rows_have_the_summary_fields(location, north_and_south):
    _ada, alan, _south_ada = north_and_south
    nurse = make_user("nurse", location)

    (row,) = get(api_client(nurse), "/patients", q=alan.mrn).json()

    assert row == {
        "id": alan.pk,
        "mrn": alan.mrn,
        "given_name": "Alan",
        "family_name": "Turing",
        "preferred_name": "",
        "birth_date": "1972-06-23",
        "location": "north",
    }


def test_empty_query_lists_only_own_location_patients(location, north_and_south):
    ada, alan, _south_ada = north_and_south
    nurse = make_user("nurse", location)

    assert set(_ids(get(api_client(nurse), "/patients"))) == {ada.pk, alan.pk}


def test_search_limit_caps_the_result_count(location):
    PatientFactory.create_batch(4, home_location=location)
    nurse = make_user("nurse", location)

    assert len(_ids(get(api_client(nurse), "/patients", limit=2))) == 2


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"limit": "many"}, {"q": "x" * 101}]
)
def test_out_of_range_search_parameters_answer_422(location, params):
    nurse = make_user("nurse", location)

    assert_error(get(api_client(nurse), "/patients", **params), 422)


def test_patient_role_may_not_search(location, north_and_south):
    ada, _alan, _south_ada = north_and_south
    user = make_user("patient", patient=ada)

    response = get(api_client(user), "/patients", q="ada")

    assert_error(response, 403)
    assert events("search") == []


def test_search_writes_an_audit_event_with_the_query_and_result_ids(location, north_and_south):
    ada, _alan, _south_ada = north_and_south
    nurse = make_user("nurse", location)

    get(api_client(nurse), "/patients", q="ada")

    (event,) = events("search")
    assert event.actor_id == nurse.pk
    assert event.actor_role == "nurse"
    assert event.channel == "api"
    assert event.detail == {"q": "ada", "patient_ids": [ada.pk]}


def test_a_search_with_no_results_is_audited_too(location, north_and_south):
    nurse = make_user("nurse", location)

    get(api_client(nurse), "/patients", q="nobody")

    (event,) = events("search")
    assert event.detail["patient_ids"] == []
