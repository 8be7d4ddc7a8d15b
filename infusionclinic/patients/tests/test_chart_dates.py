"""Issue 22 point 5: chart forms refused no date. A measurement, a medication's start or a
diagnosis noted before the patient's birth, or in 2200, was stored (or answered 500); now each is
a field error on the form and nothing is stored. Bounds: the patient's date of birth and today at
their home location (patients.services._chart_date_check); every form date also lies in the
INPUT_DATE_MIN .. INPUT_DATE_YEARS_AHEAD window (common.bounds)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from infusionclinic.patients.models import BodyMeasurement, Diagnosis, Medication
from tests.factories import PatientFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location, birth_date=date(1980, 5, 17))


@pytest.fixture
def client(location):
    return logged_in_client(make_user("prescriber", location))


FORMS = [
    (
        "patients:measurement_add",
        "measurement_form",
        "measured_on",
        {"kind": "weight", "value": "70", "unit": "kg"},
        BodyMeasurement,
    ),
    (
        "patients:medication_add",
        "medication_form",
        "started_on",
        {"name": "Bupropion", "dose": "150 mg"},
        Medication,
    ),
    ("patients:diagnosis_add", "diagnosis_form", "noted_on", {"code": "F43.12"}, Diagnosis),
]


def _tomorrow(location):
    return timezone.localdate(timezone=location.tzinfo) + timedelta(days=1)


@pytest.mark.parametrize(("url", "form", "field", "data", "model"), FORMS)
@pytest.mark.parametrize("when", ["before_birth", "2200", "0403", "tomorrow"])
def test_a_chart_date_outside_birth_to_today_is_a_field_error(
    client, patient, location, url, form, field, data, model, when
):
    value = {
        "before_birth": "1980-05-16",
        "2200": "2200-01-01",
        "0403": "0403-01-01",
        "tomorrow": _tomorrow(location).isoformat(),
    }[when]
    before = model.objects.filter(patient=patient).count()

    response = client.post(reverse(url, args=[patient.pk]), {**data, field: value})

    assert response.status_code == 400
    assert response.context[form].errors[field]
    assert model.objects.filter(patient=patient).count() == before


@pytest.mark.parametrize(("url", "form", "field", "data", "model"), FORMS)
def test_a_chart_date_on_the_birth_date_is_accepted(client, patient, url, form, field, data, model):
    response = client.post(reverse(url, args=[patient.pk]), {**data, field: "1980-05-17"})

    assert response.status_code == 302
    assert model.objects.filter(patient=patient, **{field: date(1980, 5, 17)}).exists()
