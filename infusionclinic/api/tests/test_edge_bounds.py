"""Issue 22 point 5: the reported 500s answer 422 naming the field, and no extreme number or
date sent to POST /patients gets past the edge (each test here answered 500 on main, or raised
in the service)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from infusionclinic.patients import services
from infusionclinic.patients.models import Patient
from tests.factories import PatientFactory, api_client, make_user

from .helpers import assert_field_error, new_patient_body, post_json, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def front_desk(location):
    return make_user("front_desk", location)


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"weight_kg": 1e308}, ("weight_kg",)),
        ({"height_cm": 1e308}, ("height_cm",)),
        ({"weight_kg": None, "weight": {"value": 1e308, "unit": "lb"}}, ("weight.value",)),
        ({"height_cm": None, "height": {"value": 1e308, "unit": "in"}}, ("height.value",)),
        ({"weight_kg": -1e308}, ("weight_kg",)),
        ({"birth_date": "0403-01-01"}, ("birth_date",)),
        ({"birth_date": "9999-12-30"}, ("birth_date",)),
    ],
)
def test_patient_create_with_an_extreme_value_is_a_422_naming_the_field(
    front_desk, overrides, fields
):
    """Issue 22 point 5: `1e308` as weight or height answered 500 (Decimal quantize overflow)."""
    before = snapshot()

    response = post_json(
        api_client(front_desk), "/patients", new_patient_body("north", **overrides)
    )

    assert_field_error(response, *fields)
    assert snapshot() == before


def test_the_weight_limits_are_the_clinics_plausibility_settings(front_desk, settings):
    """The edge uses PATIENT_WEIGHT_MAX_KG (no clinical number of its own)."""
    settings.PATIENT_WEIGHT_MAX_KG = 200.0
    response = post_json(
        api_client(front_desk), "/patients", new_patient_body("north", weight_kg=201)
    )
    errors = assert_field_error(response, "weight_kg")
    assert "25-200 kg" in errors["weight_kg"][0]


def test_the_measurement_service_refuses_1e308_with_a_field_error(location):
    """The service itself (pages, intake and prechecks call it) never raises InvalidOperation."""
    patient = PatientFactory(home_location=location)
    nurse = make_user("nurse", location)
    for value, unit in (("1e308", "kg"), ("1e308", "lb"), ("1e30", "cm")):
        kind = "height" if unit == "cm" else "weight"
        with pytest.raises(ValidationError) as err, transaction.atomic():
            services.measurement_record(
                actor=nurse, patient=patient, kind=kind, value=value, unit=unit
            )
        assert kind in err.value.message_dict


def _series_body(location, first_date):
    return {"location": location.code, "first_date": first_date, "preferred_time": "09:30"}


@pytest.mark.parametrize("first_date", ["9999-12-30", "0403-01-05", "1800-06-01", "2200-01-01"])
def test_series_proposal_with_a_date_out_of_the_window_is_a_422(front_desk, location, first_date):
    """Issue 22 point 5: 9999-12-30 answered 500 (date overflow); year 0403 answered 200 with
    start times in local mean time (offset -04:56:02), which is not an RFC 3339 date-time."""
    response = post_json(
        api_client(front_desk), "/appointment-series/proposal", _series_body(location, first_date)
    )

    errors = assert_field_error(response, "first_date")
    assert "Enter a date on or" in errors["first_date"][0]


def test_the_date_window_is_a_setting(front_desk, location, settings):
    settings.INPUT_DATE_YEARS_AHEAD = 1
    far = timezone.localdate(timezone=location.tzinfo) + timedelta(days=800)
    response = post_json(
        api_client(front_desk), "/appointment-series/proposal", _series_body(location, str(far))
    )
    assert "at most 1 years ahead" in assert_field_error(response, "first_date")["first_date"][0]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/appointments",
            {
                "patient_id": 10**30,
                "location": "north",
                "type": "infusion",
                "starts_at": "2027-03-02T10:00:00-05:00",
            },
            "patient_id",
        ),
        (
            "/appointments",
            {
                "patient_id": 1,
                "location": "north",
                "type": "infusion",
                "starts_at": "9999-12-31T23:59:59-12:00",
            },
            "starts_at",
        ),
        (
            "/appointment-series",
            {"patient_id": 1, "location": "north", "starts": ["0001-01-01T00:00:00+14:00"]},
            "starts.0",
        ),
    ],
)
def test_ids_and_datetimes_out_of_range_are_a_422(front_desk, path, body, field):
    response = post_json(api_client(front_desk), path, body)
    assert_field_error(response, field)


def test_availability_for_year_9999_is_a_422(front_desk):
    response = api_client(front_desk).get(
        "/api/v1/availability", {"location": "north", "date": "9999-12-31", "type": "infusion"}
    )
    assert_field_error(response, "date")


FINITE = st.floats(allow_nan=False, allow_infinity=False)
EXTREME_FLOATS = st.one_of(
    st.sampled_from([1e308, -1e308, 5e-324, 0.0, -0.0, 1e28, 1e-28, 9.99e27, math.ulp(0)]),
    FINITE,
)
EXTREME_DATES = st.one_of(
    st.sampled_from(["0001-01-01", "0403-01-01", "1899-12-31", "2200-01-01", "9999-12-31"]),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
)


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(weight=EXTREME_FLOATS, height=EXTREME_FLOATS, birth=EXTREME_DATES)
def test_patient_create_over_extreme_floats_and_dates_answers_201_or_422(
    front_desk, weight, height, birth
):
    """Issue 22 point 5: whatever number or date is sent, the answer is 201 or a 422 naming a
    field, never a 500 (the test client re-raises a server error)."""
    body = new_patient_body("north", weight_kg=weight, height_cm=height, birth_date=birth)
    with transaction.atomic():
        response = post_json(api_client(front_desk), "/patients", body)
        assert response.status_code in (201, 422), response.content
        if response.status_code == 422:
            assert set(response.json()["errors"]) <= {"weight_kg", "height_cm", "birth_date"}
        transaction.set_rollback(True)
    assert not Patient.objects.filter(given_name="Rosa", birth_date__year=1).exists()
