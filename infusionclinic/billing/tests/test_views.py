"""Billing pages and PDFs: who may see what (404 outside one's patients and locations, 403 for
roles without billing), PDF text (CODE-PX-R3), export audit."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse
from pypdf import PdfReader

from infusionclinic.audit.models import AuditEvent
from infusionclinic.billing import services
from infusionclinic.billing.models import Invoice, Payment
from infusionclinic.billing.services import LineInput
from infusionclinic.patients.models import Diagnosis
from tests.factories import PatientFactory, logged_in_client, make_user

from .factories import (
    VALID_NPI,
    billing_provider,
    completed_appointment,
    package_plan,
    price,
)

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    assert response["Content-Type"] == "application/pdf"
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.fixture
def setup(location):
    desk = make_user("front_desk", location)
    prescriber = make_user("prescriber", location)
    billing_provider(prescriber)
    patient = PatientFactory(home_location=location, given_name="Ada", family_name="Lovelace")
    Diagnosis.objects.create(patient=patient, code="F33.2", description="MDD, recurrent, severe")
    Diagnosis.objects.create(patient=patient, code="F41.1", description="Generalized anxiety")
    price(location, "96365", "400.00")
    price(location, "J3490", "35.50")
    appointment = completed_appointment(patient, location)
    invoice = services.invoice_create(
        actor=desk,
        appointment=appointment,
        lines=[LineInput("J3490", 2)],
        rendering_provider=prescriber,
    )
    payment = services.payment_record(
        actor=desk, invoice=invoice, amount="300.00", method="card", reference="slip 42"
    )
    return {"desk": desk, "patient": patient, "invoice": invoice, "payment": payment}


def _exports(obj) -> int:
    return AuditEvent.objects.filter(action="export", object_id=str(obj.pk)).count()


@override_settings(BILLING_TAX_ID="12-3456789", BILLING_PLACE_OF_SERVICE="11")
def test_superbill_pdf_lists_codes_npi_pos_tax_id_and_charges(setup):
    """CODE-PX-R3: ICD-10-CM + CPT/HCPCS + units + charges; provider NPI; place of service."""
    client = logged_in_client(setup["desk"])
    response = client.get(reverse("billing:superbill", args=[setup["invoice"].pk]))
    assert response.status_code == 200
    text = _text(response)
    for expected in (
        "Lovelace",
        "F33.2",
        "F41.1",
        "96365",
        "J3490",
        "units 2",
        "$71.00",
        "$471.00",
        f"NPI: {VALID_NPI}",
        "Place of service: 11",
        "12-3456789",
        "2026-03-10",
        "Balance due: $171.00",
        # CODE-PX-R1: the pump times the infusion code came from (10:20-11:05 local, 45 min),
        # with the location's UTC offset (EDT from 8 March 2026).
        "Infusion (pump record, America/New_York): start 2026-03-10T10:20:00-04:00, "
        "stop 2026-03-10T11:05:00-04:00",
        "Running 45.00 min, paused 0.00 min: 96365 x1 (CODE-PX1)",
    ):
        assert expected in text, expected
    assert _exports(setup["invoice"]) == 1


def test_invoice_page_shows_the_pump_times_and_codes_the_units_came_from(setup):
    """CODE-PX-R1: the page lists the lines and, beside them, the pump record they came from:
    start and stop with the location's UTC offset, paused and running minutes, and the codes
    derived (CODE-PX1 for a 45-minute run). The patient sees it on their own invoice too."""
    patient_user = make_user("patient", patient=setup["patient"])
    for user in (setup["desk"], patient_user):
        page = logged_in_client(user).get(reverse("billing:invoice", args=[setup["invoice"].pk]))
        assert page.status_code == 200
        html = page.content.decode()
        for expected in (
            '<time datetime="2026-03-10T10:20:00-04:00">2026-03-10T10:20:00-04:00</time>',
            '<time datetime="2026-03-10T11:05:00-04:00">2026-03-10T11:05:00-04:00</time>',
            "<dd>America/New_York</dd>",
            "<dt>Paused</dt><dd>0.00 min</dd>",
            "<dt>Running (pauses excluded)</dt><dd>45.00 min</dd>",
            "<td>96365</td><td>1</td><td>CODE-PX1</td>",
        ):
            assert expected in html, expected


def test_superbill_uses_clinic_labels_not_ama_descriptors(setup):
    """CODE-PX-R2: code numbers with clinic-written short labels."""
    text = _text(
        logged_in_client(setup["desk"]).get(
            reverse("billing:superbill", args=[setup["invoice"].pk])
        )
    )
    assert "IV infusion, first hour" in text
    assert "Drug supply: ketamine" in text


@override_settings(BILLING_ISSUE_SUPERBILLS=False)
def test_no_superbill_when_clinic_does_not_issue_them(setup):
    """CODE-PX-R3: the clinic decides whether to issue superbills at all."""
    response = logged_in_client(setup["desk"]).get(
        reverse("billing:superbill", args=[setup["invoice"].pk])
    )
    assert response.status_code == 404


def test_receipt_pdf_amounts_and_export_audit(setup):
    patient_user = make_user("patient", patient=setup["patient"])
    response = logged_in_client(patient_user).get(
        reverse("billing:receipt", args=[setup["payment"].pk])
    )
    assert response.status_code == 200
    text = _text(response)
    assert "Received: $300.00 (Card)" in text
    assert "slip 42" in text
    assert "Invoice total: $471.00" in text
    assert "Balance due: $171.00" in text
    assert _exports(setup["payment"]) == 1


def test_front_desk_records_payment_and_refund_through_pages(setup):
    client = logged_in_client(setup["desk"])
    invoice = setup["invoice"]
    response = client.post(
        reverse("billing:payment_add", args=[invoice.pk]),
        {"amount": "171.00", "method": "cash"},
    )
    assert response.status_code == 302
    response = client.post(
        reverse("billing:payment_add", args=[invoice.pk]), {"amount": "0.01", "method": "cash"}
    )
    assert response.status_code == 200  # over the balance: the form shows the error
    assert b"The balance is 0.00" in response.content
    response = client.post(
        reverse("billing:refund_add", args=[setup["payment"].pk]), {"amount": "300.01"}
    )
    assert b"At most 300.00" in response.content
    client.post(reverse("billing:refund_add", args=[setup["payment"].pk]), {"amount": "100"})
    page = client.get(reverse("billing:invoice", args=[invoice.pk]))
    assert page.status_code == 200
    assert b"$100.00" in page.content
    assert Payment.objects.filter(invoice=invoice).count() == 3


def test_front_desk_issues_invoice_from_billing_page(location):
    desk = make_user("front_desk", location)
    patient = PatientFactory(home_location=location)
    price(location, "90791", "250.00")
    appointment = completed_appointment(patient, location, kind="consultation")
    client = logged_in_client(desk)
    page = client.get(reverse("billing:patient_billing", args=[patient.pk]))
    assert page.status_code == 200
    response = client.post(
        reverse("billing:invoice_create", args=[patient.pk]),
        {"appointment": appointment.pk, "lines": "90791 1", "use_package": "on"},
    )
    invoice = Invoice.objects.get(appointment=appointment)
    assert response.status_code == 302
    assert invoice.lines.get().unit_price == Decimal("250.00")


def test_package_sold_from_billing_page(location):
    desk = make_user("front_desk", location)
    patient = PatientFactory(home_location=location)
    plan = package_plan(location)
    response = logged_in_client(desk).post(
        reverse("billing:package_sell", args=[patient.pk]), {"plan": plan.pk}
    )
    assert response.status_code == 302
    assert patient.packages.get().sessions_total == 3


# --- access -----------------------------------------------------------------------------------


def _id_routes(setup):
    invoice, payment = setup["invoice"], setup["payment"]
    return [
        ("get", reverse("billing:invoice", args=[invoice.pk])),
        ("get", reverse("billing:superbill", args=[invoice.pk])),
        ("get", reverse("billing:receipt", args=[payment.pk])),
        ("post", reverse("billing:payment_add", args=[invoice.pk])),
        ("post", reverse("billing:refund_add", args=[payment.pk])),
    ]


@pytest.mark.parametrize("role", ["front_desk", "nurse", "prescriber", "admin"])
def test_other_locations_staff_get_404_on_invoice_and_payment_ids(setup, other_location, role):
    client = logged_in_client(make_user(role, other_location))
    before = Payment.objects.count()
    for method, url in _id_routes(setup):
        denied = AuditEvent.objects.filter(action="denied").count()
        response = getattr(client, method)(url, {"amount": "1.00", "method": "cash"})
        assert response.status_code == 404, url
        assert AuditEvent.objects.filter(action="denied").count() == denied + 1
    assert Payment.objects.count() == before


def test_other_patient_gets_404_on_invoice_and_payment_ids(setup, location):
    other = make_user("patient", patient=PatientFactory(home_location=location))
    client = logged_in_client(other)
    for method, url in _id_routes(setup):
        assert getattr(client, method)(url, {"amount": "1.00", "method": "cash"}).status_code == 404


@pytest.mark.parametrize("role", ["nurse", "prescriber"])
def test_clinical_roles_have_no_billing(setup, location, role):
    client = logged_in_client(make_user(role, location))
    for method, url in _id_routes(setup):
        assert getattr(client, method)(url, {"amount": "1.00", "method": "cash"}).status_code == 403
    url = reverse("billing:patient_billing", args=[setup["patient"].pk])
    assert client.get(url).status_code == 403


def test_patient_sees_own_invoices_but_cannot_pay_or_refund(setup):
    client = logged_in_client(make_user("patient", patient=setup["patient"]))
    page = client.get(reverse("billing:my_invoices"))
    assert page.status_code == 200
    assert setup["invoice"].number.encode() in page.content
    assert client.get(reverse("billing:invoice", args=[setup["invoice"].pk])).status_code == 200
    response = client.post(
        reverse("billing:payment_add", args=[setup["invoice"].pk]),
        {"amount": "1.00", "method": "cash"},
    )
    assert response.status_code == 403
    assert client.get(reverse("billing:superbill", args=[setup["invoice"].pk])).status_code == 200


def test_admin_manages_billing(setup, location):
    client = logged_in_client(make_user("admin", location))
    assert client.get(reverse("billing:invoice", args=[setup["invoice"].pk])).status_code == 200


def test_chart_links_to_billing_for_front_desk_only(setup, location):
    url = reverse("patients:chart", args=[setup["patient"].pk])
    billing = reverse("billing:patient_billing", args=[setup["patient"].pk]).encode()
    assert billing in logged_in_client(setup["desk"]).get(url).content
    assert billing not in logged_in_client(make_user("nurse", location)).get(url).content
