"""The chart's latest weight and height (patient_chart, patient_latest_measurements): the newest
of each kind by measurement date, whether or not it is among the last ten measurements, in a
fixed number of queries."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from infusionclinic.patients.models import BodyMeasurement
from infusionclinic.patients.selectors import (
    MEASUREMENT_HISTORY,
    patient_chart,
    patient_latest_measurements,
)
from tests.factories import PatientFactory, add_weight, make_user

pytestmark = pytest.mark.django_db


def _height(patient, cm: str, measured_on: date) -> BodyMeasurement:
    return BodyMeasurement.objects.create(
        patient=patient,
        kind="height",
        value_si=Decimal(cm),
        entered_value=Decimal(cm),
        entered_unit="cm",
        measured_on=measured_on,
    )


def _latest(nurse, patient):
    chart = patient_chart(user=nurse, patient=patient)
    api = patient_latest_measurements(user=nurse, patient=patient)
    assert (chart.latest_weight, chart.latest_height) == api
    return api


def test_latest_height_older_than_the_last_ten_weights_is_found(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    start = date(2024, 1, 1)
    _height(patient, "160.0", start - timedelta(days=400))
    old_height = _height(patient, "170.0", start)
    for day in range(1, MEASUREMENT_HISTORY + 3):
        add_weight(patient, f"{60 + day}.0", start + timedelta(days=day))

    weight, height = _latest(nurse, patient)

    assert weight.value_si == Decimal(f"{60 + MEASUREMENT_HISTORY + 2}.0")
    assert height == old_height


def test_latest_of_each_kind_within_the_history_and_no_measurement_at_all(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    assert _latest(nurse, patient) == (None, None)
    add_weight(patient, "70.0", date(2024, 1, 1))
    newest = add_weight(patient, "71.0", date(2024, 2, 1))
    height = _height(patient, "175.0", date(2023, 1, 1))

    assert _latest(nurse, patient) == (newest, height)


def test_front_desk_sees_measurements_and_the_chart_costs_the_same_queries(location):
    desk = make_user("front_desk", location)
    patient = PatientFactory(home_location=location)
    add_weight(patient, "70.0", date(2024, 1, 1))
    with CaptureQueriesContext(connection) as few:
        assert patient_latest_measurements(user=desk, patient=patient)[0].value_si == 70
    for day in range(30):
        add_weight(patient, "72.0", date(2024, 3, 1) + timedelta(days=day))
    with CaptureQueriesContext(connection) as many:
        patient_latest_measurements(user=desk, patient=patient)
    assert len(many.captured_queries) == len(few.captured_queries) == 1
