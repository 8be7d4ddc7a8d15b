"""API: POST /patients/{patient_id}/screening and GET/PUT /patients/{patient_id}/intake."""

from __future__ import annotations

import json

import pytest

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.intake.models import Intake, IntakeStatus
from infusionclinic.patients.models import Diagnosis
from tests.factories import PatientFactory, api_client, make_user

from .factories import complete_answers, submitted_intake

pytestmark = pytest.mark.django_db
API = "/api/v1"


@pytest.fixture
def patient(location):
    patient = PatientFactory(home_location=location, given_name="Ada", family_name="Okafor")
    Diagnosis.objects.create(patient=patient, code="F43.10", description="PTSD, unspecified")
    make_user("patient", patient=patient)
    return patient


def _put(client, patient, body):
    return client.put(
        f"{API}/patients/{patient.pk}/intake",
        data=json.dumps(body),
        content_type="application/json",
    )


def _jsonable(values):
    return {
        k: (str(v) if not isinstance(v, bool | int | str | type(None)) else v)
        for k, v in values.items()
    }


def test_screening_returns_status_and_findings_with_rule_ids(patient, location):
    submitted_intake(patient, substance_use_active=True, pregnant=True)
    client = api_client(make_user("prescriber", location))
    response = client.post(f"{API}/patients/{patient.pk}/screening")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ineligible"
    by_id = {f["rule_id"]: f for f in body["findings"]}
    assert by_id["ELIG-A7"]["severity"] == "absolute"
    assert by_id["ELIG-B1"]["severity"] == "relative"
    assert by_id["PROT-2"]["severity"] == "info"
    assert "pregnan" in by_id["ELIG-A7"]["message"].lower()
    assert body["resistance_count"] == 0
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, patient=patient, object_type="intake.EligibilityScreening"
    ).exists()


def test_screening_statuses_eligible_and_needs_review(patient, location):
    submitted_intake(patient)
    client = api_client(make_user("nurse", location))
    assert client.post(f"{API}/patients/{patient.pk}/screening").json()["status"] == "eligible"
    Intake.objects.filter(patient=patient).update(bipolar_disorder=True)
    assert client.post(f"{API}/patients/{patient.pk}/screening").json()["status"] == "needs_review"


@pytest.mark.parametrize("role", ["patient", "front_desk", "admin"])
def test_roles_that_may_not_run_screening_get_403(patient, location, role):
    user = patient.user if role == "patient" else make_user(role, location)
    response = api_client(user).post(f"{API}/patients/{patient.pk}/screening")
    assert response.status_code == 403


def test_patient_writes_and_reads_their_intake_then_submits_it(patient):
    client = api_client(patient.user)
    response = _put(client, patient, {"medical_history": "Asthma", "weight_kg": 70.5})
    assert response.status_code == 200, response.content
    assert response.json()["medical_history"] == "Asthma"
    assert response.json()["status"] == "draft"

    body = _jsonable(complete_answers())
    body["submit"] = True
    response = _put(client, patient, body)
    assert response.status_code == 200, response.content
    got = client.get(f"{API}/patients/{patient.pk}/intake").json()
    assert got["status"] == "submitted"
    assert got["medical_history"] == "Appendectomy 2004."
    assert got["current_mania"] is False
    assert AuditEvent.objects.filter(action=AuditAction.VIEW, patient=patient).exists()


def test_put_answers_422_with_field_errors_for_bad_input(patient):
    client = api_client(patient.user)
    response = _put(
        client,
        patient,
        {"weight_kg": 9000, "pregnant": "perhaps", "hepatic_disease": "bad", "shoe_size": 42},
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"pregnant", "shoe_size"} <= set(errors)
    response = _put(client, patient, {"weight_kg": 9000, "hepatic_disease": "bad"})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"weight_kg", "hepatic_disease"}
    assert not Intake.objects.filter(patient=patient, weight_kg__isnull=False).exists()


def test_submit_with_missing_answers_is_422_naming_them(patient):
    response = _put(api_client(patient.user), patient, {"allergies": "None", "submit": True})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert "escort_name" in errors
    assert "ketamine_hypersensitivity" in errors


def test_a_submitted_intake_answers_409_and_staff_amend_with_a_reason(patient, location):
    submitted_intake(patient)
    assert _put(api_client(patient.user), patient, {"allergies": "Latex"}).status_code == 409
    nurse = api_client(make_user("nurse", location))
    response = _put(nurse, patient, {"allergies": "Latex", "amendment_reason": "Phoned patient"})
    assert response.status_code == 200
    assert response.json()["allergies"] == "Latex"
    assert Intake.objects.get(patient=patient).status == IntakeStatus.SUBMITTED
    response = _put(nurse, patient, {"allergies": "Latex", "amendment_reason": ""})
    assert response.status_code == 422
    assert "reason" in response.json()["errors"]


def test_front_desk_may_not_read_or_write_intakes(patient, location):
    client = api_client(make_user("front_desk", location))
    assert client.get(f"{API}/patients/{patient.pk}/intake").status_code == 403
    assert _put(client, patient, {"allergies": "x"}).status_code == 403


def test_a_patient_gets_404_for_another_patients_intake(patient, location):
    other = PatientFactory(home_location=location)
    client = api_client(patient.user)
    assert client.get(f"{API}/patients/{other.pk}/intake").status_code == 404
    assert _put(client, other, {"allergies": "x"}).status_code == 404
    assert not Intake.objects.filter(patient=other).exists()
