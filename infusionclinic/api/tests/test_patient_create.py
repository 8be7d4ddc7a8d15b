"""POST /patients: front desk and admin register a patient at a location they work at; the chart
stores weight in kg and height in cm (DOSE-U1, DOSE-U2); bad input is a 422 naming the field and
saves nothing; other roles are refused."""

import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from infusionclinic.patients.models import BodyMeasurement, Patient
from tests.factories import PatientFactory, api_client, make_user

from .helpers import (
    assert_error,
    assert_field_error,
    events,
    new_patient_body,
    post_json,
    snapshot,
)

pytestmark = pytest.mark.django_db

KG_PER_LB = Decimal("0.45359237")  # DOSE-U1: the pound is defined as exactly this many kg
TENTH = Decimal("0.1")


@pytest.fixture
def front_desk(location):
    return make_user("front_desk", location)


def _stored(patient_id, kind):
    return BodyMeasurement.objects.get(patient_id=patient_id, kind=kind)


# Accepted


@pytest.mark.parametrize("role", ["front_desk", "admin"])
def test_create_returns_201_with_id_and_nine_digit_mrn(location, role):
    user = make_user(role, location)

    response = post_json(api_client(user), "/patients", new_patient_body("north"))

    assert response.status_code == 201, response.content
    body = response.json()
    patient = Patient.objects.get(pk=body["id"])
    assert re.fullmatch(r"\d{9}", body["mrn"])
    assert body["mrn"] == patient.mrn
    assert body["version"] == 1
    assert body["location"] == "north"


def test_create_stores_the_demographics_sent(front_desk):
    response = post_json(api_client(front_desk), "/patients", new_patient_body("north"))

    patient = Patient.objects.get(pk=response.json()["id"])
    assert patient.given_name == "Rosa"
    assert patient.family_name == "Marquez"
    assert patient.birth_date.isoformat() == "1975-03-02"
    assert patient.sex_at_birth == "female"
    assert patient.email == "rosa.marquez@example.com"
    assert patient.phone == "+1 555 0100"
    assert patient.home_location.code == "north"


def test_create_stores_weight_in_kg_and_height_in_cm(front_desk, location):
    response = post_json(api_client(front_desk), "/patients", new_patient_body("north"))

    patient_id = response.json()["id"]
    weight = _stored(patient_id, "weight")
    height = _stored(patient_id, "height")
    assert weight.value_si == Decimal("68.4")
    assert height.value_si == Decimal("165.0")
    assert weight.measured_on == timezone.localdate(timezone=location.tzinfo)
    assert weight.recorded_by_id == front_desk.pk


def test_create_accepts_weight_in_pounds_and_stores_kg(front_desk):
    body = new_patient_body("north", weight={"value": 154, "unit": "lb"})
    del body["weight_kg"]

    response = post_json(api_client(front_desk), "/patients", body)

    assert response.status_code == 201, response.content
    weight = _stored(response.json()["id"], "weight")
    assert weight.value_si == Decimal("69.9")  # 154 lb x 0.45359237 = 69.853 kg
    assert weight.entered_value == Decimal("154")
    assert weight.entered_unit == "lb"
    assert Decimal(str(response.json()["weight"]["value"])) == Decimal("69.9")
    assert response.json()["weight"]["unit"] == "kg"


def test_create_accepts_height_in_inches_and_stores_cm(front_desk):
    body = new_patient_body("north", height={"value": 65, "unit": "in"})
    del body["height_cm"]

    response = post_json(api_client(front_desk), "/patients", body)

    assert response.status_code == 201, response.content
    assert _stored(response.json()["id"], "height").value_si == Decimal("165.1")


def test_create_without_measurements_stores_none(front_desk):
    body = new_patient_body("north")
    del body["weight_kg"], body["height_cm"]

    response = post_json(api_client(front_desk), "/patients", body)

    assert response.status_code == 201, response.content
    assert response.json()["weight"] is None
    assert not BodyMeasurement.objects.filter(patient_id=response.json()["id"]).exists()


def test_create_writes_one_create_audit_event_naming_patient_and_measurements(front_desk):
    response = post_json(api_client(front_desk), "/patients", new_patient_body("north"))

    patient_id = response.json()["id"]
    (event,) = events("create", patient_id=patient_id)
    assert event.object_type == "patients.Patient"
    assert [m["kind"] for m in event.detail["measurements"]] == ["weight", "height"]
    stored = BodyMeasurement.objects.filter(patient_id=patient_id)
    assert {m["id"] for m in event.detail["measurements"]} == {m.pk for m in stored}
    assert event.actor_id == front_desk.pk
    assert event.actor_role == "front_desk"
    assert event.channel == "api"


def test_create_with_a_referring_provider(front_desk):
    body = new_patient_body(
        "north", referring_provider={"name": "Dr. Jane Mind", "practice": "Calm Minds"}
    )

    response = post_json(api_client(front_desk), "/patients", body)

    assert response.status_code == 201, response.content
    assert response.json()["referring_provider"]["name"] == "Dr. Jane Mind"
    assert Patient.objects.get(pk=response.json()["id"]).referring_provider.practice == "Calm Minds"


def test_create_naming_an_npi_on_file_for_another_provider_is_refused_not_silently_replaced(
    front_desk,
):
    """Issue 21 point 1: the API has no page to ask on, so it answers 422 naming the stored
    provider and saves nothing; an exact match is reused."""
    from infusionclinic.patients.models import ReferringProvider

    stored = ReferringProvider.objects.create(
        name="Dr. Helen Cho", practice="Back Bay Psychiatry", npi="1234567893"
    )
    body = new_patient_body(
        "north", referring_provider={"name": "Dr. Adaeze Okafor", "npi": "1234567893"}
    )
    response = post_json(api_client(front_desk), "/patients", body)
    assert response.status_code == 422, response.content
    assert "Dr. Helen Cho" in response.content.decode()
    assert not Patient.objects.exists()

    body["referring_provider"]["name"] = "Dr. Helen Cho"
    response = post_json(api_client(front_desk), "/patients", body)
    assert response.status_code == 201, response.content
    assert Patient.objects.get().referring_provider == stored


def test_two_patients_get_different_mrns(front_desk):
    client = api_client(front_desk)

    first = post_json(client, "/patients", new_patient_body("north")).json()
    second = post_json(client, "/patients", new_patient_body("north", given_name="Ana")).json()

    assert first["mrn"] != second["mrn"]


@pytest.mark.parametrize("kg", [settings.PATIENT_WEIGHT_MIN_KG, settings.PATIENT_WEIGHT_MAX_KG])
def test_weight_at_the_plausible_limits_is_accepted(front_desk, kg):
    response = post_json(
        api_client(front_desk), "/patients", new_patient_body("north", weight_kg=kg)
    )

    assert response.status_code == 201, response.content


# Refused: 422 with the field named, and nothing saved


def _future_birth_date(location):
    return (timezone.localdate(timezone=location.tzinfo) + timedelta(days=2)).isoformat()


BAD_BODIES = {
    "unknown weight unit": (
        {"weight": {"value": 10, "unit": "stone"}, "weight_kg": None},
        ("weight.unit",),
    ),
    "unknown height unit": (
        {"height": {"value": 5, "unit": "ft"}, "height_cm": None},
        ("height.unit",),
    ),
    "weight 0 kg": ({"weight_kg": 0}, ("weight_kg",)),
    "weight 700 kg": ({"weight_kg": 700}, ("weight_kg",)),
    "negative weight": ({"weight_kg": -60}, ("weight_kg",)),
    "weight 2000 lb": (
        {"weight": {"value": 2000, "unit": "lb"}, "weight_kg": None},
        ("weight.value",),
    ),
    "height 20 cm": ({"height_cm": 20}, ("height_cm",)),
    "weight not a number": ({"weight_kg": "heavy"}, ("weight_kg", "weight")),
    "weight both kg and with unit": (
        {"weight": {"value": 154, "unit": "lb"}},
        ("weight", "weight_kg"),
    ),
    "malformed email": ({"email": "rosa-at-example"}, ("email",)),
    "birth_date not a date": ({"birth_date": "yesterday"}, ("birth_date",)),
    "birth_date impossible": ({"birth_date": "1975-02-30"}, ("birth_date",)),
    "birth_date over 130 years ago": ({"birth_date": "1850-01-01"}, ("birth_date",)),
    "sex_at_birth unknown": ({"sex_at_birth": "robot"}, ("sex_at_birth",)),
    "given_name blank": ({"given_name": "   "}, ("given_name",)),
    "given_name over 100 characters": ({"given_name": "A" * 101}, ("given_name",)),
    "email over 254 characters": ({"email": "a" * 250 + "@example.com"}, ("email",)),
    "unknown extra field": ({"favourite_colour": "blue"}, ("favourite_colour",)),
    "extra field inside weight": (
        {"weight": {"value": 70, "unit": "kg", "scale": "A"}, "weight_kg": None},
        ("weight.scale",),
    ),
    "country not two letters": ({"country": "USA"}, ("country",)),
    "given_name wrong type": ({"given_name": 42}, ("given_name",)),
    "unknown location": ({"location": "atlantis"}, ("location",)),
}


@pytest.mark.parametrize(("overrides", "fields"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_invalid_input_answers_422_with_the_field_and_saves_nothing(front_desk, overrides, fields):
    body = {k: v for k, v in new_patient_body("north", **overrides).items() if v is not None}
    before = snapshot()

    response = post_json(api_client(front_desk), "/patients", body)

    assert_field_error(response, *fields)
    assert snapshot() == before
    assert not BodyMeasurement.objects.exists()


def test_birth_date_in_the_future_answers_422_and_saves_nothing(front_desk, location):
    before = snapshot()

    response = post_json(
        api_client(front_desk),
        "/patients",
        new_patient_body("north", birth_date=_future_birth_date(location)),
    )

    assert_field_error(response, "birth_date")
    assert snapshot() == before


@pytest.mark.parametrize(
    "field", ["given_name", "family_name", "birth_date", "sex_at_birth", "location"]
)
def test_missing_required_field_answers_422_and_saves_nothing(front_desk, field):
    body = new_patient_body("north")
    del body[field]
    before = snapshot()

    response = post_json(api_client(front_desk), "/patients", body)

    assert_field_error(response, field)
    assert snapshot() == before


def test_several_bad_fields_are_all_reported_at_once(front_desk, location):
    body = new_patient_body(
        "north", birth_date=_future_birth_date(location), email="nope", weight_kg=0
    )

    errors = assert_field_error(post_json(api_client(front_desk), "/patients", body), "email")

    assert "birth_date" in errors
    assert {"weight", "weight_kg"} & set(errors)


def test_a_location_the_caller_does_not_work_at_answers_422_and_saves_nothing(
    front_desk, other_location
):
    before = snapshot()

    response = post_json(api_client(front_desk), "/patients", new_patient_body(other_location.code))

    assert_field_error(response, "location")
    assert snapshot() == before


@pytest.mark.parametrize("body", ["not json", "[]", "null"])
def test_a_body_that_is_not_a_json_object_answers_an_error_and_saves_nothing(front_desk, body):
    before = snapshot()

    response = api_client(front_desk).post(
        "/api/v1/patients", data=body, content_type="application/json"
    )

    assert response.status_code in (400, 422)
    assert_error(response, response.status_code)
    assert snapshot() == before


@pytest.mark.parametrize("role", ["nurse", "prescriber"])
def test_clinical_staff_may_not_create_patients(location, role):
    user = make_user(role, location)
    before = snapshot()

    response = post_json(api_client(user), "/patients", new_patient_body("north"))

    assert_error(response, 403)
    assert snapshot() == before


def test_a_patient_user_may_not_create_patients(location):
    user = make_user("patient", patient=PatientFactory(home_location=location))
    before = snapshot()

    response = post_json(api_client(user), "/patients", new_patient_body("north"))

    assert_error(response, 403)
    assert snapshot() == before


# DOSE-U1 as a property: any plausible weight, in kg or lb, is stored in kg to 0.1 kg; anything
# outside the plausible range is refused on the weight field and saves nothing.

MIN_KG = Decimal(str(settings.PATIENT_WEIGHT_MIN_KG))
MAX_KG = Decimal(str(settings.PATIENT_WEIGHT_MAX_KG))
HYPOTHESIS = hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _kg(value: Decimal, unit: str) -> Decimal:
    kg = value if unit == "kg" else value * KG_PER_LB
    return kg.quantize(TENTH, rounding=ROUND_HALF_UP)


def _weight_body(value: Decimal, unit: str) -> dict:
    body = new_patient_body("north")
    del body["weight_kg"]
    if unit == "kg" and value == value.to_integral_value():
        body["weight_kg"] = float(value)
    else:
        body["weight"] = {"value": float(value), "unit": unit}
    return body


plausible_weights = st.one_of(
    st.tuples(st.decimals(min_value=MIN_KG, max_value=MAX_KG, places=2), st.just("kg")),
    st.tuples(
        st.decimals(min_value=Decimal("55.2"), max_value=Decimal("771.6"), places=2),
        st.just("lb"),
    ),
)
implausible_weights = st.one_of(
    st.tuples(
        st.decimals(min_value=Decimal("-500"), max_value=Decimal("24.9"), places=1), st.just("kg")
    ),
    st.tuples(
        st.decimals(min_value=Decimal("350.1"), max_value=Decimal("5000"), places=1), st.just("kg")
    ),
    st.tuples(
        st.decimals(min_value=Decimal("0"), max_value=Decimal("55.0"), places=1), st.just("lb")
    ),
    st.tuples(
        st.decimals(min_value=Decimal("771.8"), max_value=Decimal("9000"), places=1), st.just("lb")
    ),
)


@HYPOTHESIS
@given(weight=plausible_weights)
def test_any_plausible_weight_is_stored_in_kg_to_a_tenth(front_desk, weight):
    value, unit = weight

    response = post_json(api_client(front_desk), "/patients", _weight_body(value, unit))

    assert response.status_code == 201, response.content
    stored = _stored(response.json()["id"], "weight")
    assert stored.value_si == _kg(value, unit)
    assert MIN_KG <= stored.value_si <= MAX_KG
    assert stored.value_si == stored.value_si.quantize(TENTH)


@HYPOTHESIS
@given(weight=implausible_weights)
def test_any_implausible_weight_is_a_422_on_weight_and_saves_nothing(front_desk, weight):
    value, unit = weight
    before = snapshot()

    response = post_json(api_client(front_desk), "/patients", _weight_body(value, unit))

    # The error names the field the client sent.
    sent = "weight_kg" if "weight_kg" in _weight_body(value, unit) else "weight.value"
    assert_field_error(response, sent)
    assert snapshot() == before


def test_a_nul_character_is_refused_at_the_edge_not_a_server_error(front_desk):
    """PostgreSQL text cannot hold NUL; the fuzzer's location "\\u0000" once gave a 500. In a
    body it is refused as unparseable (400), in a query string too (400, before any view)."""
    before = snapshot()
    body = {**new_patient_body("north"), "location": "no\u0000rth"}
    response = post_json(api_client(front_desk), "/patients", body)
    assert assert_error(response, 400)["message"].startswith("Cannot parse request body")
    assert snapshot() == before
    search = api_client(front_desk).get("/api/v1/patients", {"q": "Sm\u0000ith"})
    assert assert_error(search, 400)["message"].startswith("NUL characters")
