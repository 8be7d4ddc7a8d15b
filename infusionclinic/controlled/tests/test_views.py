"""Pages of the controlled-substance log: roles (nurses and prescribers record, admins view and
export), 404 for another location's staff, the waste screen's witness fields, and the exports."""

import csv
import io
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.urls import reverse

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.controlled import services
from infusionclinic.controlled.models import EntryKind, LedgerEntry
from tests.factories import PASSWORD, logged_in_client, make_user

from .factories import receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def draw(nurse, location, ketamine, order):
    lot = receive(nurse, location, ketamine).lot
    return services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="1.00")


def _url(name, location, **kw):
    return reverse(f"controlled:{name}", kwargs={"location_code": location.code, **kw})


def test_ledger_shows_running_balance_and_is_audited(nurse, draw, location):
    response = logged_in_client(nurse).get(_url("ledger", location))
    assert response.status_code == 200
    assert b"9.00" in response.content
    assert AuditEvent.objects.filter(actor=nurse, action=AuditAction.VIEW).exists()


def test_receive_page_records_a_receipt(nurse, location):
    response = logged_in_client(nurse).post(
        _url("receive", location),
        {
            "ndc": "0409-2051-05",
            "name": "Ketamine HCl injection",
            "strength_mg_per_ml": "100",
            "container_ml": "5",
            "lot_number": "A1",
            "expiry": "2030-01-31",
            "containers": "2",
            "supplier": "Wholesale",
            "invoice_number": "INV-9",
            "storage": "Med room cabinet A",
        },
    )
    assert response.status_code == 302
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.qty_ml, entry.qty_mg) == ("receipt", D("10.00"), D("1000.000"))
    assert entry.lot.product.ndc11 == "00409-2051-05"


def test_draw_page_offers_signed_orders_and_records_the_draw(nurse, location, ketamine, order):
    lot = receive(nurse, location, ketamine).lot
    client = logged_in_client(nurse)
    assert order.label.encode() in client.get(_url("draw", location)).content
    response = client.post(
        _url("draw", location), {"order": order.pk, "lot": lot.pk, "qty_ml": "0.80"}
    )
    assert response.status_code == 302
    entry = lot.entries.get(kind=EntryKind.DRAW)
    assert (entry.order, entry.patient, entry.qty_mg) == (order, order.patient, D("40.000"))


def test_waste_page_wrong_witness_password_shows_the_error(nurse, prescriber, location, draw):
    response = logged_in_client(nurse).post(
        _url("waste", location),
        {
            "draw": draw.pk,
            "qty_ml": "0.50",
            "reason": "remainder",
            "witness_email": prescriber.email,
            "witness_secret": "nope",
        },
    )
    assert response.status_code == 200
    assert b"password or code is wrong" in response.content
    assert not draw.dose_entries.exists()


def test_waste_page_with_witness_records_the_waste(nurse, prescriber, location, draw):
    response = logged_in_client(nurse).post(
        _url("waste", location),
        {
            "draw": draw.pk,
            "qty_ml": "0.50",
            "reason": "remainder",
            "witness_email": prescriber.email,
            "witness_secret": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert draw.dose_entries.get().witness == prescriber


def test_reconcile_page_opens_a_discrepancy_and_its_workflow(nurse, location, draw):
    client = logged_in_client(nurse)
    client.post(
        _url("reconcile", location), {"lot": draw.lot_id, "counted_ml": "8.00", "method": "exact"}
    )
    d = draw.lot.discrepancies.get()
    url = _url("discrepancy", location, discrepancy_id=d.pk)
    client.post(url, {"action": "investigate", "inv-notes": "traced: typo in the count"})
    closing = {"action": "close", "close-outcome": "resolved", "close-reason": "typo"}
    refused = client.post(url, closing)
    assert "record the recount" in refused.content.decode()  # §7 step 2 first
    page = client.get(url).content.decode()
    assert "Second counter&#x27;s password or TOTP code" in page
    second = make_user("prescriber", location)
    wrong = client.post(
        url,
        {
            "action": "recount",
            "rec-first_count_ml": "9.00",
            "rec-second_count_ml": "9.00",
            "rec-second_counter_email": second.email,
            "rec-second_counter_secret": "wrong",
        },
    )
    assert "password or code is wrong" in wrong.content.decode()
    client.post(
        url,
        {
            "action": "recount",
            "rec-first_count_ml": "9.00",
            "rec-second_count_ml": "9.00",
            "rec-second_counter_email": second.email,
            "rec-second_counter_secret": PASSWORD,
        },
    )
    d.refresh_from_db()
    assert (d.recount_first_by, d.recount_second_by) == (nurse, second)
    assert "9.00 mL by" in client.get(url).content.decode()
    client.post(url, closing)
    d.refresh_from_db()
    assert (d.status, d.resolution_reason) == ("resolved", "typo")


@pytest.mark.parametrize("role", ["front_desk", "admin"])
def test_only_licensed_staff_record(role, location):
    client = logged_in_client(make_user(role, location))
    for name in (
        "receive",
        "draw",
        "administer",
        "waste",
        "reconcile",
        "reconcile_sign",
        "destroy",
        "return",
        "loss_new",
        "remainder_waste",
    ):
        assert client.get(_url(name, location)).status_code == 403, name


def test_admin_views_and_exports(admin_user, location, draw):
    client = logged_in_client(admin_user)
    assert client.get(_url("ledger", location)).status_code == 200
    assert client.get(_url("inventory", location)).status_code == 200


@pytest.mark.parametrize("role", ["nurse", "prescriber", "front_desk"])
def test_exports_are_for_admins(role, location):
    client = logged_in_client(make_user(role, location))
    assert client.get(_url("inventory", location)).status_code == 403
    assert client.get(_url("loss_pack", location)).status_code == 403


@pytest.mark.parametrize("role", ["nurse", "prescriber", "admin", "front_desk"])
def test_another_locations_staff_get_404_on_every_route(role, other_location, location, draw):
    d = services.count_record(
        actor=draw.actor, lot=draw.lot, counted_ml="1.00", method="exact"
    ).discrepancy
    client = logged_in_client(make_user(role, other_location))
    names = ["ledger", "receive", "draw", "administer", "waste", "reconcile", "inventory"]
    names += ["reconcile_sign", "registrations", "destroy", "return", "loss_new"]
    names += ["remainder_waste"]
    for name in [*names, "loss_pack"]:
        assert client.get(_url(name, location)).status_code == 404, name
    assert client.get(_url("discrepancy", location, discrepancy_id=d.pk)).status_code == 404
    report = services.stock_out_record(
        actor=draw.actor, lot=draw.lot, kind="loss", qty_ml="1.00", reason="missing"
    ).loss_report
    for name in ("loss_report", "loss_notice"):
        assert client.get(_url(name, location, report_id=report.pk)).status_code == 404, name
    assert client.post(_url("receive", location), {}).status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.DENIED).exists()


def test_ids_of_another_location_are_404_at_ones_own(nurse, location, other_location, draw):
    """A lot, draw or discrepancy id from another location posted to one's own location's pages."""
    elsewhere = make_user("nurse", other_location)
    client = logged_in_client(elsewhere)
    d = services.count_record(actor=draw.actor, lot=draw.lot, counted_ml="1.00", method="exact")
    url = _url("discrepancy", other_location, discrepancy_id=d.discrepancy.pk)
    assert client.get(url).status_code == 404
    response = client.post(
        _url("reconcile", other_location),
        {"lot": draw.lot_id, "counted_ml": "1", "method": "exact"},
    )
    assert response.status_code == 200  # the lot is not among this location's choices
    assert draw.lot.counts.count() == 1


def _rows(response):
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_cs11_inventory_export_contents(admin_user, location, draw):
    response = logged_in_client(admin_user).get(
        _url("inventory", location) + "?at=opening&type=initial"
    )
    assert response["Content-Type"].startswith("text/csv")
    [row] = _rows(response)
    assert row["inventory_type"] == "initial"  # CS-10, R3
    assert row["ndc"] == "42023-113-10"
    assert row["schedule"] == "CIII"
    assert row["opening_or_close"] == "opening"
    assert (row["full_containers"], row["partial_ml"], row["total_ml"]) == ("0", "9.00", "9.00")
    assert D(row["total_mg"]) == D("450")
    assert AuditEvent.objects.filter(
        action=AuditAction.EXPORT, detail__report="cs_inventory"
    ).exists()


def test_r5_theft_loss_pack_contents_and_cs13_deadlines(admin_user, nurse, location, draw):
    loss = services.stock_out_record(
        actor=nurse, lot=draw.lot, kind="loss", qty_ml="2.00", reason="vial missing from cabinet"
    )
    [row] = _rows(logged_in_client(admin_user).get(_url("loss_pack", location)))
    assert (row["qty_ml"], D(row["qty_mg"])) == ("2.00", D("100"))
    assert row["lot"] == "L123"
    assert row["circumstances"] == "vial missing from cabinet"
    assert row["losses_past_24_months"] == "0"
    assert row["form106_due"] == (loss.occurred_at + timedelta(days=45)).date().isoformat()
    assert AuditEvent.objects.filter(
        action=AuditAction.EXPORT, detail__report="cs_theft_loss"
    ).exists()
