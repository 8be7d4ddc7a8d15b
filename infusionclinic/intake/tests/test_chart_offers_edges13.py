"""Issue 21 point 3: the intake's answers reach the chart. Once submitted, its weight, height,
emergency contact and usual escort (PRE-5), and the accepted referral's ICD-10-CM codes, are
offered to staff on the chart and the intake page; "Accept into the chart" (one click) writes
each through the patients services, audited; who may accept what is the roles table's
(diagnoses: prescribers, accounts/roles.py DIAGNOSIS_EDIT). The intake review reads as words."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.intake import chart_offers, services
from infusionclinic.intake.models import IntakeChartTransfer
from infusionclinic.patients.models import BodyMeasurement, Diagnosis, Patient
from infusionclinic.patients.selectors import patient_latest_measurements
from tests.factories import PatientFactory, add_weight, logged_in_client, make_user

from .factories import submitted_intake

pytestmark = pytest.mark.django_db


@pytest.fixture
def nurse(location):
    return make_user("nurse", location)


@pytest.fixture
def prescriber(location):
    return make_user("prescriber", location)


@pytest.fixture
def patient(location):
    patient = PatientFactory(
        home_location=location, emergency_contact_name="", emergency_contact_phone=""
    )
    make_user("patient", patient=patient)
    submitted_intake(
        patient,
        weight_kg=Decimal("80.0"),
        height_cm=Decimal("172.0"),
        emergency_contact_name="Sam Rivera",
        emergency_contact_phone="555-0111",
        escort_name="Alex Rivera",
        escort_phone="555-0122",
        hepatic_disease="moderate",
    )
    return patient


def _keys(patient):
    return {o.key for o in chart_offers.chart_offers(patient=patient)}


def _accept(client, patient, key, back_to="chart"):
    return client.post(f"/patients/{patient.pk}/intake/offers/", {"item": key, "back_to": back_to})


def test_a_submitted_intake_offers_weight_height_and_contacts(patient):
    assert _keys(patient) == {"weight", "height", "emergency_contact", "escort"}


def test_a_draft_intake_offers_nothing(location):
    patient = PatientFactory(home_location=location)
    services.intake_open(actor=make_user("nurse", location), patient=patient)
    assert _keys(patient) == set()


def test_accepting_the_intake_weight_makes_it_the_chart_weight_and_ends_no_weight_recorded(
    patient, nurse, prescriber
):
    """80 kg typed in the intake is the chart's weight after one click; dosing reads it."""
    orders = logged_in_client(prescriber).get(f"/patients/{patient.pk}/orders/")
    assert b"No weight recorded" in orders.content

    client = logged_in_client(nurse)
    chart = client.get(f"/patients/{patient.pk}/")
    assert b"Accept into the chart" in chart.content
    assert b"80.0 kg, reported on" in chart.content
    response = _accept(client, patient, "weight")
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/"

    weight, _ = patient_latest_measurements(user=nurse, patient=patient)
    assert weight.value_si == Decimal("80.0")
    assert (weight.entered_value, weight.entered_unit) == (Decimal("80.00"), "kg")
    assert weight.measured_on == timezone.localdate(timezone=patient.home_location.tzinfo)
    assert weight.recorded_by == nurse
    transfer = IntakeChartTransfer.objects.get(patient=patient, item="weight")
    assert transfer.chart_object_id == weight.pk
    event = AuditEvent.objects.get(object_type__iendswith="intakecharttransfer")
    assert (event.actor, event.patient, event.action) == (nurse, patient, AuditAction.CREATE)
    assert event.detail["item"] == "weight"
    assert AuditEvent.objects.filter(
        object_type__iendswith="bodymeasurement", object_id=str(weight.pk)
    ).exists()

    orders = logged_in_client(prescriber).get(f"/patients/{patient.pk}/orders/")
    assert b"No weight recorded" not in orders.content
    assert b"80.0 kg" in orders.content
    assert "weight" not in _keys(patient)


def test_an_offer_is_accepted_once(patient, nurse):
    chart_offers.intake_offer_accept(actor=nurse, patient=patient, key="height")
    with pytest.raises(ValidationError):
        chart_offers.intake_offer_accept(actor=nurse, patient=patient, key="height")
    assert BodyMeasurement.objects.filter(patient=patient, kind="height").count() == 1


def test_a_weight_measured_on_or_after_the_intake_is_not_replaced_by_the_reported_one(patient):
    add_weight(patient, "78.4", timezone.localdate())
    assert "weight" not in _keys(patient)


def test_an_older_chart_weight_does_not_hide_the_intake_weight(patient):
    add_weight(patient, "90.0", timezone.localdate() - timedelta(days=200))
    offer = next(o for o in chart_offers.chart_offers(patient=patient) if o.key == "weight")
    assert offer.on_chart.startswith("90.0 kg on ")


def test_an_amended_weight_is_offered_again(patient, nurse):
    chart_offers.intake_offer_accept(actor=nurse, patient=patient, key="weight")
    services.intake_amend(
        actor=nurse, patient=patient, values={"weight_kg": "82"}, reason="Weighed at home again"
    )
    offer = next(o for o in chart_offers.chart_offers(patient=patient) if o.key == "weight")
    assert offer.value == {"value": "82.0", "unit": "kg"}


def test_front_desk_accepts_the_emergency_contact_and_escort_into_the_chart(patient, location):
    front_desk = make_user("front_desk", location)
    client = logged_in_client(front_desk)
    assert _accept(client, patient, "emergency_contact").status_code == 302
    assert _accept(client, patient, "escort").status_code == 302
    patient.refresh_from_db()
    assert (patient.emergency_contact_name, patient.emergency_contact_phone) == (
        "Sam Rivera",
        "555-0111",
    )
    assert (patient.escort_name, patient.escort_phone) == ("Alex Rivera", "555-0122")
    update = AuditEvent.objects.filter(
        action=AuditAction.UPDATE, patient=patient, object_type__iendswith="patient"
    ).last()
    assert update.detail["fields"] == ["escort_name", "escort_phone"]
    chart = client.get(f"/patients/{patient.pk}/")
    assert b"Alex Rivera" in chart.content
    assert _keys(patient) == {"weight", "height"}


def test_contacts_already_on_the_chart_are_not_offered(location):
    patient = PatientFactory(
        home_location=location,
        emergency_contact_name="Sam Rivera",
        emergency_contact_phone="555-0111",
    )
    submitted_intake(patient)
    assert "emergency_contact" not in _keys(patient)


def _referred_patient(location, front_desk) -> Patient:
    referral = services.referral_create(
        actor=front_desk,
        location=location,
        source="self",
        given_name="Rosa",
        family_name="Marquez",
        birth_date=date(1975, 3, 2),
        sex_at_birth="female",
        diagnosis_codes=["F33.2"],
    )
    return services.referral_accept(actor=front_desk, referral=referral)


def test_a_prescriber_accepts_the_referral_diagnosis_into_the_chart(location, prescriber):
    patient = _referred_patient(location, make_user("front_desk", location))
    assert not Diagnosis.objects.filter(patient=patient).exists()
    client = logged_in_client(prescriber)
    chart = client.get(f"/patients/{patient.pk}/")
    assert b"F33.2" in chart.content
    assert b'value="diagnosis:F33.2"' in chart.content

    assert _accept(client, patient, "diagnosis:F33.2").status_code == 302
    diagnosis = Diagnosis.objects.get(patient=patient)
    assert (diagnosis.code, diagnosis.is_primary, diagnosis.recorded_by) == (
        "F33.2",
        True,
        prescriber,
    )
    transfer = IntakeChartTransfer.objects.get(patient=patient, item="diagnosis")
    assert transfer.referral_id == patient.referrals.get().pk
    chart = client.get(f"/patients/{patient.pk}/")
    assert b"<strong>F33.2</strong>" in chart.content
    assert b'value="diagnosis:F33.2"' not in chart.content


def test_a_nurse_sees_the_referral_diagnosis_but_may_not_accept_it(location, nurse):
    patient = _referred_patient(location, make_user("front_desk", location))
    client = logged_in_client(nurse)
    chart = client.get(f"/patients/{patient.pk}/")
    assert b"A prescriber accepts diagnoses." in chart.content
    assert b'value="diagnosis:F33.2"' not in chart.content
    assert _accept(client, patient, "diagnosis:F33.2").status_code == 403
    with pytest.raises(PermissionDenied):
        chart_offers.intake_offer_accept(actor=nurse, patient=patient, key="diagnosis:F33.2")
    assert not Diagnosis.objects.filter(patient=patient).exists()
    assert not IntakeChartTransfer.objects.exists()


def test_front_desk_may_not_accept_a_diagnosis_and_is_not_shown_it(location):
    front_desk = make_user("front_desk", location)
    patient = _referred_patient(location, front_desk)
    client = logged_in_client(front_desk)
    assert b"F33.2" not in client.get(f"/patients/{patient.pk}/").content
    assert _accept(client, patient, "diagnosis:F33.2").status_code == 403
    assert not Diagnosis.objects.filter(patient=patient).exists()


def test_the_patient_is_offered_nothing_and_may_not_accept(patient):
    client = logged_in_client(patient.user)
    assert b"Accept into the chart" not in client.get("/my/chart/").content
    assert _accept(client, patient, "weight").status_code == 403
    assert not BodyMeasurement.objects.filter(patient=patient).exists()


def test_staff_of_another_location_get_404_and_nothing_is_written(patient, other_location):
    client = logged_in_client(make_user("prescriber", other_location))
    assert _accept(client, patient, "weight").status_code == 404
    assert not BodyMeasurement.objects.filter(patient=patient).exists()
    assert AuditEvent.objects.filter(action=AuditAction.DENIED).exists()


def test_the_intake_review_offers_the_answers_and_comes_back_to_itself(patient, nurse):
    client = logged_in_client(nurse)
    page = client.get(f"/patients/{patient.pk}/intake/")
    assert b"From the intake into the chart" in page.content
    response = _accept(client, patient, "height", back_to="intake")
    assert response["Location"] == f"/patients/{patient.pk}/intake/"


def test_the_intake_review_shows_questions_and_choice_labels_not_raw_values(patient, nurse):
    page = logged_in_client(nurse).get(f"/patients/{patient.pk}/intake/").content.decode()
    assert "<dt>Have you ever attempted suicide?</dt><dd>No</dd>" in page
    assert "<dt>Liver disease</dt><dd>Mild or moderate</dd>" in page
    assert "<dd>no</dd>" not in page
    assert "<dd>moderate</dd>" not in page


def test_an_amendment_is_listed_in_words(patient, nurse):
    services.intake_amend(
        actor=nurse, patient=patient, values={"urinary_symptoms": True}, reason="Told at visit"
    )
    page = logged_in_client(nurse).get(f"/patients/{patient.pk}/intake/").content.decode()
    assert "problems passing urine?: No → Yes" in page
