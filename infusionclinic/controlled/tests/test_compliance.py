"""The registrant's records around the ledger: DEA registration per location (§4, CS-4), Form 41
destruction with two re-authenticated witnesses and return to a reverse distributor (CS-17,
CS-18, CS-37, CS-44), theft/loss reports with the CS-13 deadlines (CS-38, R5), and the daily
reconciliation signed by two and blocked by open doses (R2, CS-43)."""

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.controlled import compliance, services
from infusionclinic.controlled.models import (
    Destruction,
    DiscrepancyStatus,
    EntryKind,
    LedgerEntry,
    LossReport,
    Reconciliation,
)
from tests.factories import PASSWORD, logged_in_client, make_user

from .factories import receive

pytestmark = pytest.mark.django_db

DEA = "AB1234563"  # check digit: (1 + 3 + 5) + 2 × (2 + 4 + 6) = 33 → 3


@pytest.fixture
def second_nurse(location):
    return make_user("nurse", location)


@pytest.fixture
def lot(nurse, location, ketamine):
    return receive(nurse, location, ketamine, containers=2).lot  # 20.00 mL


def _url(name, location, **kw):
    return reverse(f"controlled:{name}", kwargs={"location_code": location.code, **kw})


def _rows(response):
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def _registration(admin_user, location, expires_in_days=400):
    return compliance.registration_record(
        actor=admin_user,
        location=location,
        registrant_name="North Infusion Clinic PLLC",
        dea_number=DEA,
        address="1 Main St, Springfield",
        phone="555-010-0100",
        contact_name="Dr. Reg",
        county="Sangamon",
        expires_on=timezone.localdate(timezone=location.tzinfo) + timedelta(days=expires_in_days),
    )


# --- Registration ------------------------------------------------------------------------------


def test_dea_number_check_digit():
    assert compliance.dea_number_valid(DEA)
    assert not compliance.dea_number_valid("AB1234564")  # wrong check digit
    assert not compliance.dea_number_valid("A11234563")
    assert not compliance.dea_number_valid("ab1234563")


def test_registration_recorded_by_admin_and_refused_to_nurse(admin_user, nurse, location):
    with pytest.raises(PermissionDenied):
        _registration(nurse, location)
    reg = _registration(admin_user, location)
    assert compliance.registration_current(location=location) == reg
    assert AuditEvent.objects.filter(object_type="controlled.Registration").exists()
    with pytest.raises(ValidationError) as err:
        compliance.registration_record(
            actor=admin_user,
            location=location,
            registrant_name="X",
            dea_number="AB1234564",
            address="Y",
            expires_on=timezone.localdate(),
        )
    assert "dea_number" in err.value.message_dict


@pytest.mark.parametrize(
    ("days", "state"), [(None, "missing"), (-1, "expired"), (30, "expiring"), (400, "current")]
)
def test_registration_expiry_is_shown_to_staff(admin_user, nurse, location, days, state):
    if days is not None:
        _registration(admin_user, location, expires_in_days=days)
    assert compliance.registration_status(location=location).state == state
    page = logged_in_client(nurse).get(_url("ledger", location)).content.decode()
    assert 'id="registration-status"' in page
    if state != "current":
        assert 'id="registration-status" role="alert"' in page


# --- Destruction (Form 41) and return ----------------------------------------------------------


def _destroy(nurse, location, lot, w1, w2, qty="5.00", **kw):
    data = {
        "actor": nurse,
        "location": location,
        "lines": [(lot, qty)],
        "method": "chemical denaturing kit",
        "place": "medication room",
        "witness_1_email": w1.email,
        "witness_1_secret": PASSWORD,
        "witness_2_email": w2.email,
        "witness_2_secret": PASSWORD,
        **kw,
    }
    return compliance.destruction_record(**data)


def test_cs17_destruction_with_two_witnesses_reduces_stock(
    nurse, prescriber, second_nurse, location, lot
):
    destruction = _destroy(nurse, location, lot, prescriber, second_nurse)
    [entry] = destruction.entries.all()
    assert (entry.kind, entry.qty_ml, entry.delta_ml) == ("destruction", D("5.00"), D("-5.00"))
    assert (entry.witness, entry.second_witness) == (prescriber, second_nurse)
    assert services.balance_ml(lot) == D("15.00")


@pytest.mark.parametrize(
    ("who", "field"),
    [
        ("same_twice", "witness_2_email"),
        ("actor_as_witness", "witness_1_email"),
        ("front_desk", "witness_2_email"),
        ("wrong_secret", "witness_2_secret"),
    ],
)
def test_cs17_cs44_two_distinct_licensed_reauthenticated_witnesses(
    nurse, prescriber, location, lot, who, field
):
    w1, w2, extra = prescriber, None, {}
    if who == "same_twice":
        w2 = prescriber
    elif who == "actor_as_witness":
        w1, w2 = nurse, prescriber
    elif who == "front_desk":
        w2 = make_user("front_desk", location)
    else:
        w2 = make_user("nurse", location)
        extra = {"witness_2_secret": "wrong-password"}
    with pytest.raises(ValidationError) as err:
        _destroy(nurse, location, lot, w1, w2, **extra)
    assert field in err.value.message_dict
    assert not Destruction.objects.exists()
    assert services.balance_ml(lot) == D("20.00")


def test_cs17_database_refuses_destruction_entry_without_second_witness(
    nurse, prescriber, lot, location
):
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            lot=lot,
            seq=99,
            kind=EntryKind.DESTRUCTION,
            qty_ml=D("1"),
            concentration_mg_per_ml=D("50"),
            qty_mg=D("50"),
            delta_ml=D("-1"),
            balance_after_ml=D("19"),
            occurred_at=timezone.now(),
            actor=nurse,
            witness=prescriber,
        )


def test_cs41_destruction_cannot_exceed_stock(nurse, prescriber, second_nurse, location, lot):
    with pytest.raises(ValidationError):
        _destroy(nurse, location, lot, prescriber, second_nurse, qty="20.01")
    assert not Destruction.objects.exists()


def test_cs18_form41_export_has_the_form_fields(
    admin_user, nurse, prescriber, second_nurse, location, lot
):
    _registration(admin_user, location)
    destruction = _destroy(nurse, location, lot, prescriber, second_nurse, qty="12.50")
    client = logged_in_client(admin_user)
    [row] = _rows(client.get(_url("form41", location, destruction_id=destruction.pk)))
    assert (row["registrant"], row["dea_number"]) == ("North Infusion Clinic PLLC", DEA)
    assert (row["ndc"], row["lot"], row["package_quantity_ml"]) == ("42023-113-10", "L123", "10.00")
    assert (row["full_packages"], row["partial_package_ml"]) == ("1", "2.50")
    assert D(row["total_destroyed_mg"]) == D("625")
    assert (row["method"], row["place"]) == ("chemical denaturing kit", "medication room")
    assert prescriber.email in row["witness_1"]
    assert second_nurse.email in row["witness_2"]
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT, detail__report="cs_form41").exists()
    assert (
        logged_in_client(nurse)
        .get(_url("form41", location, destruction_id=destruction.pk))
        .status_code
        == 403
    )


def test_destroy_page_takes_both_witnesses_on_the_same_screen(
    nurse, prescriber, second_nurse, location, lot
):
    client = logged_in_client(nurse)
    page = client.get(_url("destroy", location)).content.decode()
    assert "Witness 1 password or TOTP code" in page
    assert "Witness 2 password or TOTP code" in page
    r = client.post(
        _url("destroy", location),
        {
            "lot_1": lot.pk,
            "qty_1": "3.00",
            "method": "denaturing kit",
            "place": "med room",
            "witness_1_email": prescriber.email,
            "witness_1_secret": PASSWORD,
            "witness_2_email": second_nurse.email,
            "witness_2_secret": PASSWORD,
        },
    )
    assert r.status_code == 302
    assert services.balance_ml(lot) == D("17.00")


def test_cs37_return_to_reverse_distributor_names_it(nurse, location, lot):
    with pytest.raises(ValidationError) as err:
        compliance.reverse_distributor_return_record(
            actor=nurse,
            location=location,
            lines=[(lot, "10.00")],
            distributor_name="Returns Inc",
            distributor_address="2 Dock St",
            distributor_dea="AB1234564",
        )
    assert "distributor_dea" in err.value.message_dict
    record = compliance.reverse_distributor_return_record(
        actor=nurse,
        location=location,
        lines=[(lot, "10.00")],
        distributor_name="Returns Inc",
        distributor_address="2 Dock St",
        distributor_dea=DEA,
        reference="RMA-7",
    )
    [entry] = record.entries.all()
    assert (entry.kind, entry.delta_ml) == ("return", D("-10.00"))
    assert services.balance_ml(lot) == D("10.00")


def test_cs21_vial_remainder_is_inventory_by_default(nurse, prescriber, location, lot, settings):
    kwargs = {
        "actor": nurse,
        "lot": lot,
        "qty_ml": "9.20",
        "reason": "remainder after dose",
        "witness_email": prescriber.email,
        "witness_secret": PASSWORD,
    }
    with pytest.raises(ValidationError) as err:
        compliance.vial_remainder_waste_record(**kwargs)
    assert "CS-21" in err.value.messages[0]
    assert services.balance_ml(lot) == D("20.00")
    page = logged_in_client(nurse).get(_url("remainder_waste", location)).content.decode()
    assert "Form 41" in page
    settings.CONTROLLED_MDV_REMAINDER_IS_WASTAGE = True
    entry = compliance.vial_remainder_waste_record(**kwargs)
    assert (entry.kind, entry.delta_ml, entry.witness) == ("waste", D("-9.20"), prescriber)
    assert services.balance_ml(lot) == D("10.80")


# --- Theft and loss ----------------------------------------------------------------------------


def _loss(nurse, location, lot, discovered_at=None):
    return compliance.loss_report_open(
        actor=nurse,
        location=location,
        discovered_at=discovered_at,
        loss_type="employee_pilferage",
        circumstances="vial missing from cabinet",
        lines=[(lot, "2.00")],
        police_notified=True,
        police_department="Springfield PD",
        purchase_value="12.50",
    )


def test_cs13_notice_due_next_business_day_and_form106_in_45_days(nurse, location, lot):
    tz = ZoneInfo(location.timezone)
    friday = datetime(2026, 11, 20, 16, 0, tzinfo=tz)  # a Friday
    report = _loss(nurse, location, lot, discovered_at=friday)
    deadlines = compliance.loss_deadlines(report, now=friday + timedelta(hours=1))
    assert deadlines.notice_due.astimezone(tz).date().isoformat() == "2026-11-23"  # Monday
    assert deadlines.form106_due == friday + timedelta(days=45)
    assert not deadlines.notice_overdue
    late = compliance.loss_deadlines(report, now=datetime(2026, 11, 24, 9, 0, tzinfo=tz))
    assert late.notice_overdue
    assert not late.form106_overdue


def test_cs38_loss_takes_stock_out_and_overdue_deadlines_are_shown(nurse, location, lot):
    report = _loss(nurse, location, lot, discovered_at=timezone.now() - timedelta(days=50))
    assert services.balance_ml(lot) == D("18.00")
    assert report.entries.get().kind == "loss"
    assert compliance.loss_reports_overdue(location=location) == [report]
    client = logged_in_client(nurse)
    ledger = client.get(_url("ledger", location)).content.decode()
    assert "OVERDUE" in ledger
    page = client.get(_url("loss_report", location, report_id=report.pk)).content.decode()
    assert page.count("OVERDUE") == 2
    # Recording both steps clears the overdue marks.
    assert client.post(_url("loss_report", location, report_id=report.pk), {"step": "notice"})
    r = client.post(
        _url("loss_report", location, report_id=report.pk),
        {"step": "form106", "reference": "DEA-TLR-1"},
    )
    assert r.status_code == 302
    report.refresh_from_db()
    assert report.dea_notice_sent_at
    assert report.form106_reference == "DEA-TLR-1"
    assert compliance.loss_reports_overdue(location=location) == []


def test_r5_pack_has_registrant_type_police_and_items(admin_user, nurse, location, lot):
    _registration(admin_user, location)
    report = _loss(nurse, location, lot)
    [row] = _rows(logged_in_client(admin_user).get(_url("loss_pack", location)))
    assert (row["dea_number"], row["county"]) == (DEA, "Sangamon")
    assert row["loss_type"] == "Employee pilferage"
    assert (row["police_notified"], row["police_department"]) == ("yes", "Springfield PD")
    assert row["purchase_value_usd"] == "12.50"
    assert (row["qty_ml"], D(row["qty_mg"])) == ("2.00", D("100"))
    notice = logged_in_client(admin_user).get(_url("loss_notice", location, report_id=report.pk))
    assert notice.status_code == 200
    assert DEA in notice.content.decode()
    assert "1 business day" in notice.content.decode()


def test_s7_discrepancy_reported_as_loss_opens_a_loss_report(nurse, prescriber, location, lot):
    count = services.count_record(actor=nurse, lot=lot, counted_ml="18.00", method="exact")
    d = count.discrepancy
    services.discrepancy_investigate(actor=nurse, discrepancy=d, notes="recount 18.00")
    services.discrepancy_recount(
        actor=nurse,
        discrepancy=d,
        first_count_ml="18.00",
        second_count_ml="18.00",
        second_counter_email=prescriber.email,
        second_counter_secret=PASSWORD,
    )
    services.discrepancy_close(
        actor=prescriber, discrepancy=d, outcome=DiscrepancyStatus.REPORTED_LOSS, reason="gone"
    )
    report = LossReport.objects.get()
    assert report.discovered_at == count.counted_at
    assert report.entries.get().qty_ml == D("2.00")


# --- Daily reconciliation signed by two ----------------------------------------------------------


def _sign(actor, location, second, secret=PASSWORD):
    return compliance.reconciliation_sign(
        actor=actor, location=location, second_email=second.email, second_secret=secret
    )


def test_r2_cs43_open_dose_blocks_the_sign_off_with_a_clear_message(
    nurse, prescriber, location, lot, order
):
    draw = services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="1.00")
    services.count_record(actor=nurse, lot=lot, counted_ml="19.00", method="exact")
    with pytest.raises(ValidationError) as err:
        _sign(nurse, location, prescriber)
    assert any(f"dose #{draw.pk}" in m and "CS-43" in m for m in err.value.messages)
    page = logged_in_client(nurse).get(_url("reconcile_sign", location)).content.decode()
    assert "CS-43" in page
    services.administration_record(actor=nurse, draw=draw, qty_ml="1.00")
    record = _sign(nurse, location, prescriber)
    assert (record.signed_by, record.second_signed_by) == (nurse, prescriber)


def test_r2_every_lot_in_stock_is_counted_first(nurse, prescriber, location, lot):
    with pytest.raises(ValidationError) as err:
        _sign(nurse, location, prescriber)
    assert "R2: lot L123 has no count today." in err.value.messages


@pytest.mark.parametrize("who", ["self", "front_desk", "wrong_secret"])
def test_r2_second_signer_is_another_licensed_reauthenticated_user(nurse, location, lot, who):
    services.count_record(actor=nurse, lot=lot, counted_ml="20.00", method="exact")
    second = {"self": nurse, "front_desk": make_user("front_desk", location)}.get(
        who, make_user("prescriber", location)
    )
    with pytest.raises(ValidationError):
        _sign(nurse, location, second, secret="nope" if who == "wrong_secret" else PASSWORD)
    assert not Reconciliation.objects.exists()


def test_r2_signed_once_a_day_and_shown_on_the_ledger(nurse, prescriber, location, lot):
    services.count_record(actor=nurse, lot=lot, counted_ml="20.00", method="exact")
    client = logged_in_client(nurse)
    r = client.post(
        _url("reconcile_sign", location),
        {"second_email": prescriber.email, "second_secret": PASSWORD},
    )
    assert r.status_code == 302
    record = Reconciliation.objects.get()
    assert record.counts[0]["counted_ml"] == "20.00"
    with pytest.raises(ValidationError):
        _sign(nurse, location, prescriber)
    assert "reconciliation signed by" in client.get(_url("ledger", location)).content.decode()
