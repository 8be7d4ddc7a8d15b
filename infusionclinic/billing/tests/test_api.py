"""Billing API: figures as exact decimal strings; 404 for other locations' staff and other
patients; 403 for clinical roles; the pump times an invoice's infusion codes came from
(CODE-PX-R1, PX1-PX3) with the location's UTC offset."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from infusionclinic.billing import services
from infusionclinic.billing.services import LineInput
from tests.factories import PatientFactory, api_client, make_user

from .factories import completed_appointment, infusion_session, price

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


ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")


def _billed_infusion(location, pump, day=date(2026, 3, 10)):
    desk = make_user("front_desk", location)
    for code, amount in (("96365", "400.00"), ("96366", "150.00"), ("96374", "120.00")):
        price(location, code, amount)
    patient = PatientFactory(home_location=location)
    appointment = completed_appointment(patient, location, day=day, infusion_minutes=None)
    session = infusion_session(appointment, pump=pump)
    invoice = services.invoice_create(actor=desk, appointment=appointment, lines=[])
    return desk, session, invoice


def test_invoice_api_shows_the_pump_times_and_codes_the_units_came_from(location):
    """CODE-PX-R1: start 10:20, a 10-minute pause, stop 12:05 local (America/New_York, EDT from
    8 March 2026): 105 min from start to stop, 95 running -> 96365 x1 (CODE-PX1) and 96366 x1
    (CODE-PX2: more than 30 min beyond the first hour)."""
    pump = [("start", 20), ("pause", 50), ("resume", 60), ("stop", 125)]
    desk, session, invoice = _billed_infusion(location, pump)
    body = api_client(desk).get(f"/api/v1/invoices/{invoice.pk}").json()
    assert body["infusion_session_id"] == session.pk
    times = body["pump"]
    assert times["infusion_session_id"] == session.pk
    assert times["time_zone"] == "America/New_York"
    for key in ("started_at", "stopped_at"):
        assert ISO_WITH_OFFSET.match(times[key]), times[key]
    assert times["started_at"] == "2026-03-10T10:20:00-04:00"
    assert times["stopped_at"] == "2026-03-10T12:05:00-04:00"
    assert datetime.fromisoformat(times["started_at"]) == invoice.infusion_started_at
    assert times["paused_minutes"] == "10.00"
    assert times["running_minutes"] == "95.00"
    assert times["running_seconds"] == "5700"
    assert [(c["code"], c["units"], c["rule_id"]) for c in times["codes"]] == [
        ("96365", 1, "CODE-PX1"),
        ("96366", 1, "CODE-PX2"),
    ]
    # The derived codes are the lines billed.
    billed = [(x["code"], x["units"]) for x in body["lines"]]
    assert billed == [(c["code"], c["units"]) for c in times["codes"]]


def test_invoice_api_pump_times_of_a_push_and_in_standard_time(location):
    """CODE-PX1/PX3: 12 min running is the push code; in February New York is UTC-05:00."""
    pump = [("start", 20), ("stop", 32)]
    desk, _, invoice = _billed_infusion(location, pump, day=date(2026, 2, 10))
    times = api_client(desk).get(f"/api/v1/invoices/{invoice.pk}").json()["pump"]
    assert times["started_at"] == "2026-02-10T10:20:00-05:00"
    assert times["paused_minutes"] == "0.00"
    assert times["running_minutes"] == "12.00"
    assert [(c["code"], c["units"], c["rule_id"]) for c in times["codes"]] == [
        ("96374", 1, "CODE-PX3")
    ]


def test_invoice_api_without_a_session_has_no_pump_times(invoice, location):
    body = api_client(make_user("front_desk", location)).get(f"/api/v1/invoices/{invoice.pk}")
    assert body.json()["infusion_session_id"] is None
    assert body.json()["pump"] is None
    listing = api_client(make_user("front_desk", location)).get(
        f"/api/v1/invoices?patient={invoice.patient_id}"
    )
    assert listing.json()[0]["pump"] is None  # the list carries no detail


def test_invoice_api_pump_times_are_in_the_openapi_schema(location):
    schema = api_client(make_user("front_desk", location)).get("/api/v1/openapi.json").json()
    pump = schema["components"]["schemas"]["PumpTimesOut"]["properties"]
    assert pump["started_at"]["format"] == "date-time"
    assert {"paused_minutes", "running_minutes", "codes", "time_zone"} <= set(pump)


def test_invoice_api_pump_times_cost_no_query(invoice, location):
    """The pump times come from the invoice's own frozen columns: an invoice tied to a session
    is answered in as many queries as one without."""
    _, _, billed = _billed_infusion(location, [("start", 20), ("pause", 40), ("resume", 50),
                                               ("stop", 90)])  # fmt: skip
    client = api_client(make_user("front_desk", location))
    client.get(f"/api/v1/invoices/{invoice.pk}")  # one-off work of a first request
    counts = []
    for row in (invoice, billed):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/api/v1/invoices/{row.pk}").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
