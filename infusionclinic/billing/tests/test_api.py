"""Billing API: figures as exact decimal strings; 404 for other locations' staff and other
patients; 403 for clinical roles."""

from __future__ import annotations

import pytest

from infusionclinic.billing import services
from infusionclinic.billing.services import LineInput
from tests.factories import PatientFactory, api_client, make_user

from .factories import completed_appointment, price

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(location):
    desk = make_user("front_desk", location)
    patient = PatientFactory(home_location=location)
    price(location, "90791", "250.10")
    appointment = completed_appointment(patient, location, kind="consultation")
    invoice = services.invoice_create(
        actor=desk, appointment=appointment, lines=[LineInput("90791", 1)]
    )
    services.payment_record(actor=desk, invoice=invoice, amount="100.05", method="transfer")
    return invoice


def test_invoice_api_returns_exact_figures(invoice, location):
    response = api_client(make_user("front_desk", location)).get(f"/api/v1/invoices/{invoice.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == "250.10"
    assert body["paid"] == "100.05"
    assert body["balance"] == "150.05"
    assert body["lines"][0]["code"] == "90791"


def test_invoice_api_404_for_other_location_and_other_patient(invoice, other_location, location):
    for user in (
        make_user("front_desk", other_location),
        make_user("admin", other_location),
        make_user("patient", patient=PatientFactory(home_location=location)),
    ):
        client = api_client(user)
        assert client.get(f"/api/v1/invoices/{invoice.pk}").status_code == 404
        assert client.get(f"/api/v1/invoices?patient={invoice.patient_id}").status_code == 404


def test_invoice_api_own_patient_200_nurse_403(invoice, location):
    owner = make_user("patient", patient=invoice.patient)
    assert api_client(owner).get(f"/api/v1/invoices/{invoice.pk}").status_code == 200
    listing = api_client(owner).get(f"/api/v1/invoices?patient={invoice.patient_id}")
    assert [x["number"] for x in listing.json()] == [invoice.number]
    nurse = make_user("nurse", location)
    assert api_client(nurse).get(f"/api/v1/invoices/{invoice.pk}").status_code == 403
