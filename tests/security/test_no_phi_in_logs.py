"""No patient data in URLs or logs (issue 11, item 7): a representative workload runs with every
logger captured at DEBUG, and no name, date of birth, email or API token shows up."""

import logging

import pytest
from django.test import Client

from infusionclinic.accounts.services import api_token_create
from infusionclinic.patients.models import Patient
from tests.factories import PASSWORD, logged_in_client, make_user

pytestmark = pytest.mark.django_db

GIVEN, FAMILY, BIRTH, EMAIL = "Zebediah", "Quixotewright", "1977-03-29", "zq.private@example.com"


def test_a_day_of_work_logs_no_patient_data_or_tokens(location, caplog, client):
    caplog.set_level(logging.DEBUG)
    front_desk = make_user("front_desk", location)
    token = api_token_create(user=front_desk)
    token_client = Client(headers={"Authorization": f"Bearer {token}"})

    created = token_client.post(
        "/api/v1/patients",
        {
            "given_name": GIVEN,
            "family_name": FAMILY,
            "birth_date": BIRTH,
            "sex_at_birth": "male",
            "email": EMAIL,
            "location": "north",
            "weight_kg": 80,
        },
        content_type="application/json",
    )
    assert created.status_code == 201
    patient_id = created.json()["id"]
    refused = token_client.post(  # a 422 that echoes nothing of the body into logs
        "/api/v1/patients",
        {"given_name": GIVEN, "family_name": FAMILY, "birth_date": "2999-01-01"},
        content_type="application/json",
    )
    assert refused.status_code == 422
    token_client.get(f"/api/v1/patients/{patient_id}")
    token_client.get("/api/v1/patients/999999")  # 404, logged as a warning by Django
    token_client.get("/api/v1/patients?q=Quixote")

    nurse = logged_in_client(make_user("nurse", location))
    searched = nurse.post("/patients/", {"q": f"{FAMILY} {BIRTH}"})
    assert Patient.objects.get(pk=patient_id) in searched.context["patients"]
    nurse.get(f"/patients/{patient_id}/")
    nurse.post(f"/patients/{patient_id}/allergies/", {"substance": "", "severity": "bogus"})

    patient_user = make_user("patient", patient=Patient.objects.get(pk=patient_id))
    client.post("/accounts/login/", {"username": patient_user.email, "password": "wrong"})
    client.post("/accounts/login/", {"username": patient_user.email, "password": PASSWORD})
    client.get("/my/chart/")

    assert caplog.records, "the workload should have logged something (e.g. the 404)"
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {getattr(r, 'request', '')}" for r in caplog.records
    )
    for secret in (GIVEN, FAMILY, BIRTH, EMAIL, patient_user.email, token):
        assert secret not in logged


def test_staff_search_keeps_what_was_typed_out_of_the_url(location):
    nurse = logged_in_client(make_user("nurse", location))
    home = nurse.get("/home/").content.decode()
    assert 'method="post" action="/patients/"' in home
    page = nurse.get("/patients/").content.decode()
    assert 'hx-post="/patients/"' in page
    assert "hx-get" not in page
    assert "hx-push-url" not in page
