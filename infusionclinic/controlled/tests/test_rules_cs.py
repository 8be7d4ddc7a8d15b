"""controlled-substances.md, one section per rule id (issue 21 part 2: every CS id the code
implements is pinned by a test here that fails if the rule breaks). The behaviour of CS-2, CS-3,
CS-6, CS-7, CS-9 (storage at receipt), CS-20, CS-23, CS-25, CS-34, CS-46 and CS-47 is new on this
branch: those tests fail on main."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.controlled import (
    breakage,
    compliance,
    conf,
    exports,
    records,
    retention,
    services,
    transfers,
)
from infusionclinic.controlled.bud import open_vial
from infusionclinic.controlled.forms import ReceiveForm
from infusionclinic.controlled.models import (
    WITNESSED,
    AppendOnlyError,
    CountMethod,
    Destruction,
    DiscrepancyStatus,
    EntryKind,
    LedgerEntry,
    LossReport,
    Product,
    StorageTransfer,
)
from tests.factories import PASSWORD, LocationFactory, logged_in_client, make_user

from .factories import product, receive

pytestmark = pytest.mark.django_db

DEA = "AB1234563"


@pytest.fixture
def lot(nurse, location, ketamine):
    return receive(nurse, location, ketamine, containers=2).lot  # 2 × 10 mL at 50 mg/mL


@pytest.fixture
def draw(nurse, lot, order):
    return services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="0.80")


def _registration(admin_user, location, schedules="III"):
    return compliance.registration_record(
        actor=admin_user,
        location=location,
        registrant_name="North Infusion Clinic PLLC",
        dea_number=DEA,
        address="1 Main St, Springfield",
        schedules=schedules,
        expires_on=timezone.localdate() + timedelta(days=400),
    )


def _rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def _records(admin_user, location, report, date_from=None, date_to=None):
    today = timezone.localdate(timezone=location.tzinfo)
    return _rows(
        records.records_csv(
            actor=admin_user,
            location=location,
            report=report,
            date_from=date_from or today - timedelta(days=30),
            date_to=date_to or today,
        )
    )


def _witness(prescriber):
    return {"witness_email": prescriber.email, "witness_secret": PASSWORD}


# --- CS-1 ---------------------------------------------------------------------------------------


def test_cs_1_ketamine_is_schedule_iii_on_products_registrations_and_inventory(
    admin_user, location, lot
):
    """CS-1: products are CIII; a registration not covering Schedule III is refused; the
    inventory lists the schedule."""
    assert lot.product.schedule == "CIII"
    with pytest.raises(ValidationError) as err:
        _registration(admin_user, location, schedules="II")
    assert "CS-1" in err.value.message_dict["schedules"][0]
    _registration(admin_user, location)
    rows = _rows(
        exports.inventory_csv(actor=admin_user, location=location, opening_or_close="close")
    )
    assert [r["schedule"] for r in rows] == ["CIII"]


# --- CS-2 ---------------------------------------------------------------------------------------


def test_cs_2_administration_log_keeps_patient_name_address_date_quantity_and_who(
    nurse, admin_user, location, draw, patient
):
    """CS-2: the clinic administers and charges, so it keeps the full records, including the
    administration record of 1304.22(c): patient name and address, date, quantity, who
    administered. Reading it is audited against the patient."""
    patient.address_line1 = "12 Elm St"
    patient.city = "Springfield"
    patient.region = "IL"
    patient.postal_code = "62701"
    patient.save()
    services.administration_record(actor=nurse, draw=draw, qty_ml="0.60", reason="stopped early")
    [row] = _records(admin_user, location, "administrations")
    assert row["patient_name"] == patient.legal_name
    assert row["patient_address"] == "12 Elm St, Springfield, IL 62701, US"
    assert (D(row["qty_ml"]), D(row["qty_mg"])) == (D("0.60"), D("30"))
    assert row["administered_by"] in (nurse.full_name, nurse.email)
    assert row["administered_on"] == timezone.localdate(timezone=location.tzinfo).isoformat()
    assert AuditEvent.objects.filter(
        actor=admin_user, action=AuditAction.EXPORT, patient=patient
    ).exists()


# --- CS-3 ---------------------------------------------------------------------------------------


def test_cs_3_running_balance_accounts_for_every_quantity_in_and_out(
    nurse, admin_user, prescriber, location, lot, draw
):
    """CS-3 (R1): every quantity received and disposed of is on the record, each line with the
    balance before and after in mL and mg, and the lines chain without a gap."""
    services.administration_record(actor=nurse, draw=draw, qty_ml="0.50", reason="stopped")
    services.waste_record(
        actor=nurse, draw=draw, qty_ml="0.30", reason="bag", **_witness(prescriber)
    )
    rows = _records(admin_user, location, "running_balance")
    assert [r["kind"] for r in rows] == ["receipt", "draw", "administration", "waste"]
    assert [r["balance_after_ml"] for r in rows] == ["20.00", "19.20", "19.20", "19.20"]
    for previous, row in zip(rows, rows[1:], strict=False):
        assert row["balance_before_ml"] == previous["balance_after_ml"]
    assert D(rows[1]["balance_after_mg"]) == D("960")  # 19.20 mL × 50 mg/mL
    assert D(rows[0]["balance_before_ml"]) == 0


# --- CS-5 ---------------------------------------------------------------------------------------


def test_cs_5_receipt_is_dated_the_day_it_arrived_not_the_day_it_was_typed(
    nurse, admin_user, location, ketamine
):
    """CS-5: the receipt's date is when the vials physically arrived."""
    arrived = timezone.now() - timedelta(days=3)
    entry = services.receipt_record(
        actor=nurse,
        location=location,
        product=ketamine,
        lot_number="L9",
        expiry=timezone.localdate() + timedelta(days=300),
        containers=1,
        supplier="Wholesale",
        invoice_number="INV-5",
        received_at=arrived,
    )
    assert entry.occurred_at == arrived
    assert entry.recorded_at > arrived + timedelta(days=2)
    [row] = _records(admin_user, location, "receipts")
    assert row["received_on"] == arrived.astimezone(location.tzinfo).date().isoformat()
    with pytest.raises(ValidationError):
        services.receipt_record(
            actor=nurse,
            location=location,
            product=ketamine,
            lot_number="L9",
            expiry=entry.lot.expiry,
            containers=1,
            supplier="Wholesale",
            invoice_number="INV-6",
            received_at=timezone.now() + timedelta(days=1),
        )


# --- CS-6 and CS-47 -----------------------------------------------------------------------------


def test_cs_6_retention_below_the_federal_two_years_is_refused(settings):
    """CS-6: all CS records are kept at least 2 years: a shorter setting is a configuration
    error, not a shorter retention."""
    settings.CONTROLLED_RETENTION_YEARS = 1
    with pytest.raises(ImproperlyConfigured):
        conf.retention_years()
    settings.CONTROLLED_RETENTION_YEARS = 2
    assert conf.retention_years() == 2


def test_cs_47_records_run_for_one_location_and_a_date_range(nurse, admin_user, location, ketamine):
    """CS-47, CS-6: each report is for one registered location and a date range: another
    location's stock and entries outside the range are not in it."""
    other = LocationFactory(code="east", name="East", timezone="America/Chicago")
    other_nurse = make_user("nurse", other)
    receive(other_nurse, other, ketamine, lot_number="EAST")
    old = services.receipt_record(
        actor=nurse,
        location=location,
        product=ketamine,
        lot_number="OLD",
        expiry=timezone.localdate() + timedelta(days=300),
        containers=1,
        supplier="Wholesale",
        invoice_number="INV-OLD",
        received_at=timezone.now() - timedelta(days=60),
    )
    receive(nurse, location, ketamine, lot_number="NEW")
    lots = [r["lot"] for r in _records(admin_user, location, "receipts")]
    assert lots == ["NEW"]
    day = old.occurred_at.astimezone(location.tzinfo).date()
    lots = [r["lot"] for r in _records(admin_user, location, "receipts", day, day)]
    assert lots == ["OLD"]
    with pytest.raises(ValidationError):
        _records(admin_user, location, "receipts", day, day - timedelta(days=1))


def test_cs_47_records_page_answers_csv_and_refuses_bad_input_clearly(
    admin_user, nurse, location, lot
):
    """CS-47 at the edge: the CSV per report; bad dates or an unknown report are a 400 with a
    message, and staff without the export permission are refused."""
    client = logged_in_client(admin_user)

    def url(report):
        return reverse(
            "controlled:records", kwargs={"location_code": location.code, "report": report}
        )

    response = client.get(url("running_balance"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert [r["kind"] for r in _rows(response.content.decode())] == ["receipt"]
    assert client.get(url("running_balance") + "?date_from=yesterday").status_code == 400
    bad = client.get(url("running_balance") + "?date_from=2030-01-02&date_to=2030-01-01")
    assert bad.status_code == 400
    assert client.get(url("everything")).status_code == 400
    assert logged_in_client(nurse).get(url("receipts")).status_code in (403, 404)


# --- CS-7 and CS-46 -----------------------------------------------------------------------------


def test_cs_7_records_are_kept_five_years_by_default_and_the_years_are_a_setting(
    admin_user, location, lot, settings
):
    """CS-7: `CONTROLLED_RETENTION_YEARS`, default 5; every record row shows until when."""
    entry = lot.entries.get()
    # Counted from the event's calendar day in the server's zone (UTC), which is never earlier
    # than the location's: a record is never kept a day too short.
    day = timezone.localdate(entry.occurred_at)
    assert retention.kept_until(entry) == day.replace(year=day.year + 5)
    [row] = _records(admin_user, location, "running_balance")
    assert row["kept_until"] == day.replace(year=day.year + 5).isoformat()
    settings.CONTROLLED_RETENTION_YEARS = 7
    assert retention.kept_until(entry) == day.replace(year=day.year + 7)


def test_cs_46_no_cs_record_is_deleted_before_its_retention_ran_out(
    admin_user, nurse, location, lot
):
    """CS-46: even records that are not append-only (a registration, a discrepancy) are not
    deleted before their retention years have run (admin, shell, cascade all refused)."""
    registration = _registration(admin_user, location)
    with pytest.raises(retention.RetentionError), transaction.atomic():
        registration.delete()
    count = services.count_record(actor=nurse, lot=lot, counted_ml="19.00", method="exact")
    discrepancy = count.discrepancy
    with pytest.raises(retention.RetentionError), transaction.atomic():
        discrepancy.delete()
    assert type(registration).objects.filter(pk=registration.pk).exists()
    assert not retention.deletion_allowed(registration)
    later = registration.expires_on.replace(year=registration.expires_on.year + 5)
    assert retention.deletion_allowed(registration, today=later)
    assert not retention.deletion_allowed(registration, today=later - timedelta(days=1))


def test_cs_46_a_leap_day_record_is_kept_to_the_28th_of_february():
    assert retention._add_years(date(2028, 2, 29), 5) == date(2033, 2, 28)


# --- CS-8 ---------------------------------------------------------------------------------------


def test_cs_8_schedule_iii_is_received_on_the_suppliers_invoice(
    nurse, admin_user, location, ketamine
):
    """CS-8: no invoice number, no receipt; the receipt log shows the invoice."""
    kwargs = {
        "actor": nurse,
        "location": location,
        "product": ketamine,
        "lot_number": "L1",
        "expiry": timezone.localdate() + timedelta(days=300),
        "containers": 3,
        "supplier": "Wholesale",
        "supplier_dea": "AB1234563",
    }
    with pytest.raises(ValidationError) as err:
        services.receipt_record(invoice_number=" ", **kwargs)
    assert "CS-8" in err.value.message_dict["invoice_number"][0]
    assert not LedgerEntry.objects.exists()
    services.receipt_record(invoice_number="INV-77", **kwargs)
    [row] = _records(admin_user, location, "receipts")
    assert (row["invoice_number"], row["supplier"], row["containers"]) == (
        "INV-77",
        "Wholesale",
        "3",
    )


# --- CS-9 ---------------------------------------------------------------------------------------


def test_cs_9_receipt_records_the_locked_cabinet_and_the_ledger_shows_it(nurse, location, ketamine):
    """CS-9: the software records where the vials are stored (it cannot check the lock)."""
    entry = services.receipt_record(
        actor=nurse,
        location=location,
        product=ketamine,
        lot_number="L2",
        expiry=timezone.localdate() + timedelta(days=300),
        containers=1,
        supplier="Wholesale",
        invoice_number="INV-2",
        storage="Med room, cabinet A",
    )
    assert entry.lot.storage == "Med room, cabinet A"
    page = logged_in_client(nurse).get(
        reverse("controlled:ledger", kwargs={"location_code": location.code})
    )
    assert "Med room, cabinet A" in page.content.decode()
    form = ReceiveForm({"ndc": "0409-2051-05"})
    assert not form.is_valid()
    assert "storage" in form.errors


# --- CS-11 --------------------------------------------------------------------------------------


def test_cs_11_inventory_states_date_flag_and_per_product_form_strength_container_count(
    admin_user, nurse, location, lot, draw
):
    """CS-11: date, opening/close flag and per product the name, finished form, strength,
    container volume and number of containers (full + the opened one's mL)."""
    _registration(admin_user, location)
    [row] = _rows(
        exports.inventory_csv(actor=admin_user, location=location, opening_or_close="opening")
    )
    assert row["opening_or_close"] == "opening"
    assert row["taken_at_utc"][:10] == timezone.now().date().isoformat()
    assert (row["name"], row["dosage_form"]) == ("Ketamine HCl injection", "injection")
    assert (row["strength_mg_per_ml"], row["container_ml"]) == ("50.000", "10.00")
    assert (row["full_containers"], row["partial_ml"], row["total_ml"]) == ("1", "9.20", "19.20")
    assert (row["registrant"], row["dea_number"]) == ("North Infusion Clinic PLLC", DEA)


# --- CS-12 --------------------------------------------------------------------------------------


def test_cs_12_opened_vial_may_be_estimated_sealed_vials_are_exact(nurse, lot, draw):
    """CS-12: the count stores how it was counted; an estimate within the tolerance is only
    noted, an exact count has no tolerance."""
    estimated = services.count_record(
        actor=nurse, lot=lot, counted_ml="18.80", method=CountMethod.ESTIMATED
    )
    assert estimated.method == "estimated"
    assert not hasattr(estimated, "discrepancy")
    exact = services.count_record(
        actor=nurse, lot=lot, counted_ml="19.19", method=CountMethod.EXACT
    )
    assert exact.discrepancy.status == DiscrepancyStatus.OPEN
    with pytest.raises(ValidationError):
        services.count_record(actor=nurse, lot=lot, counted_ml="19.20", method="guess")


# --- CS-14 --------------------------------------------------------------------------------------


def test_cs_14_a_minor_explained_variance_is_noted_not_reported(nurse, prescriber, lot):
    """CS-14: a minor discrepancy is resolved in the records with its variance and reason; no
    Form 106 report and no loss entry."""
    count = services.count_record(actor=nurse, lot=lot, counted_ml="19.90", method="exact")
    d = count.discrepancy
    services.discrepancy_recount(
        actor=nurse,
        discrepancy=d,
        first_count_ml="20.00",
        second_count_ml="20.00",
        second_counter_email=prescriber.email,
        second_counter_secret=PASSWORD,
    )
    services.discrepancy_investigate(actor=nurse, discrepancy=d, notes="misread meniscus")
    d = services.discrepancy_close(
        actor=nurse, discrepancy=d, outcome=DiscrepancyStatus.RESOLVED, reason="counting error"
    )
    assert d.status == "resolved"
    assert d.loss_entry is None
    assert d.count.variance_ml == D("-0.10")
    assert not LossReport.objects.exists()
    assert services.balance_ml(lot) == D("20.00")


# --- CS-15 and CS-16 ----------------------------------------------------------------------------


def test_cs_15_wastage_is_recorded_witnessed_but_is_not_a_form_41_destruction(
    nurse, prescriber, admin_user, location, draw
):
    """CS-15: drug left in a dispensed dose is recorded as wastage (1304.22(c)) and is not on
    Form 41: no Destruction record, and the destruction log stays empty."""
    services.administration_record(actor=nurse, draw=draw, qty_ml="0.60", reason="stopped")
    waste = services.waste_record(
        actor=nurse, draw=draw, qty_ml="0.20", reason="left in line", **_witness(prescriber)
    )
    assert (waste.kind, waste.delta_ml, waste.destruction) == ("waste", D("0.00"), None)
    assert not Destruction.objects.exists()
    assert _records(admin_user, location, "destructions") == []
    [row] = _records(admin_user, location, "wastes")
    assert (row["qty_ml"], row["witness"]) == ("0.20", prescriber.email)


def test_cs_16_wastage_needs_a_second_person_here_though_dea_only_encourages_it(nurse, draw):
    """CS-16: mandatory in this product: no witness (or oneself) is refused by the service and
    by the database."""
    with pytest.raises(ValidationError):
        services.waste_record(
            actor=nurse,
            draw=draw,
            qty_ml="0.10",
            reason="bag",
            witness_email=nurse.email,
            witness_secret=PASSWORD,
        )
    with pytest.raises(ValidationError):
        services.waste_record(
            actor=nurse, draw=draw, qty_ml="0.10", reason="bag", witness_email="", witness_secret=""
        )
    assert EntryKind.WASTE in WITNESSED
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            lot=draw.lot,
            seq=99,
            kind=EntryKind.WASTE,
            qty_ml=D("0.10"),
            concentration_mg_per_ml=D("50"),
            qty_mg=D("5"),
            delta_ml=D("0"),
            balance_after_ml=D("19.20"),
            occurred_at=timezone.now(),
            actor=nurse,
            dose=draw,
        )


# --- CS-19 --------------------------------------------------------------------------------------


def test_cs_19_destruction_records_the_method_that_made_it_non_retrievable(
    nurse, prescriber, location, lot
):
    """CS-19 (with CS-18): no method, no Form 41 destruction; the method is on the record."""
    second = make_user("nurse", location)
    kwargs = {
        "actor": nurse,
        "location": location,
        "lines": [(lot, "10.00")],
        "place": "Med room",
        "witness_1_email": prescriber.email,
        "witness_1_secret": PASSWORD,
        "witness_2_email": second.email,
        "witness_2_secret": PASSWORD,
    }
    with pytest.raises(ValidationError) as err:
        compliance.destruction_record(method="  ", **kwargs)
    assert "method" in err.value.message_dict
    record = compliance.destruction_record(method="chemical denaturing kit", **kwargs)
    assert record.method == "chemical denaturing kit"
    assert record.entries.get().reason.endswith("chemical denaturing kit")


# --- CS-20 --------------------------------------------------------------------------------------


def test_cs_20_witnessed_unrecoverable_breakage_leaves_stock_without_a_loss_report(
    nurse, prescriber, admin_user, location, lot
):
    """CS-20: a witnessed breakage the registrant can account for is not a loss: stock goes down,
    what happened is documented, no LossReport (no DEA notice/Form 106)."""
    entry = breakage.breakage_record(
        actor=nurse,
        lot=lot,
        qty_ml="10.00",
        circumstances="vial dropped on tiles, contents spilled into the floor drain",
        recoverable=False,
        **_witness(prescriber),
    )
    assert (entry.kind, entry.delta_ml, entry.witness) == ("breakage", D("-10.00"), prescriber)
    assert "dropped" in entry.reason
    assert services.balance_ml(lot) == D("10.00")
    assert not LossReport.objects.exists()
    assert entry.loss_report is None
    [row] = _records(admin_user, location, "breakage")
    assert (row["qty_ml"], row["witness"]) == ("10.00", prescriber.email)


def test_cs_20_recoverable_breakage_goes_to_form_41_and_breakage_is_witnessed(
    nurse, prescriber, lot
):
    """CS-20: what can be recovered is inventory (Form 41 / reverse distributor); an
    unwitnessed breakage is refused (by the service and the database)."""
    base = {"actor": nurse, "lot": lot, "qty_ml": "1.00", "circumstances": "cracked vial"}
    with pytest.raises(ValidationError) as err:
        breakage.breakage_record(recoverable=True, **base, **_witness(prescriber))
    assert "Form 41" in err.value.message_dict["recoverable"][0]
    with pytest.raises(ValidationError):
        breakage.breakage_record(
            recoverable=False, witness_email=nurse.email, witness_secret=PASSWORD, **base
        )
    with pytest.raises(ValidationError):
        breakage.breakage_record(
            recoverable=False, **{**base, "circumstances": " "}, **_witness(prescriber)
        )
    with pytest.raises(ValidationError):
        breakage.breakage_record(
            recoverable=False, **{**base, "qty_ml": "20.01"}, **_witness(prescriber)
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            lot=lot,
            seq=2,
            kind=EntryKind.BREAKAGE,
            qty_ml=D("1.00"),
            concentration_mg_per_ml=D("50"),
            qty_mg=D("50"),
            delta_ml=D("-1.00"),
            balance_after_ml=D("19.00"),
            occurred_at=timezone.now(),
            actor=nurse,
        )
    assert services.balance_ml(lot) == D("20.00")


def test_cs_20_breakage_page_records_with_a_witness(nurse, prescriber, location, lot):
    """CS-20 at the edge: the form takes the witness on the same screen."""
    url = reverse("controlled:breakage", kwargs={"location_code": location.code})
    client = logged_in_client(nurse)
    assert "not a theft or loss" in client.get(url).content.decode()
    response = client.post(
        url,
        {
            "lot": lot.pk,
            "qty_ml": "0.50",
            "circumstances": "syringe snapped while drawing",
            "witness_email": prescriber.email,
            "witness_secret": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert lot.entries.filter(kind="breakage").count() == 1
    bad = client.post(
        url,
        {
            "lot": lot.pk,
            "qty_ml": "0.50",
            "circumstances": "x",
            "witness_email": prescriber.email,
            "witness_secret": "wrong",
        },
    )
    assert bad.status_code == 200
    assert lot.entries.filter(kind="breakage").count() == 1


# --- CS-23 and CS-24 ----------------------------------------------------------------------------


def _receive_form(ndc, strength, volume):
    return ReceiveForm(
        {
            "ndc": ndc,
            "name": "Ketamine HCl injection",
            "strength_mg_per_ml": strength,
            "container_ml": volume,
            "lot_number": "A1",
            "expiry": "2030-01-31",
            "containers": "1",
            "supplier": "Wholesale",
            "invoice_number": "INV-1",
            "storage": "Cabinet A",
        }
    )


def test_cs_23_a_listed_ndc_received_with_another_strength_or_volume_is_refused():
    """CS-23: the listed package NDCs come with their strength and vial volume; a typo is caught
    on the receiving form before CS-48 freezes it."""
    form = _receive_form("0409-2051-05", "10", "5")
    assert not form.is_valid()
    assert "CS-23" in form.errors["strength_mg_per_ml"][0]
    assert "Hospira" in form.errors["strength_mg_per_ml"][0]
    assert not _receive_form("42023-113-10", "100", "20").is_valid()
    assert _receive_form("42023-113-10", "10", "20").is_valid()
    assert _receive_form("55150-438-10", "10.000", "20.00").is_valid()
    assert _receive_form("25021-684-05", "100", "5").is_valid()
    assert _receive_form("12345-678-90", "50", "10").is_valid()  # not listed: no opinion


def test_cs_24_ndc_kept_as_printed_with_the_derived_11_digit_form():
    """CS-24: 4-4-2, 5-3-2 and 5-4-1 are zero-padded to 5-4-2; an unhyphenated NDC is refused
    (its segments cannot be inferred)."""
    assert services.ndc11("0409-2051-05") == "00409-2051-05"
    assert services.ndc11("42023-113-10") == "42023-0113-10"
    assert services.ndc11("12345-6789-1") == "12345-6789-01"
    with pytest.raises(ValidationError):
        services.ndc11("0409205105")
    p = product(ndc="0409-2051-05", strength="100", container="5")
    assert (p.ndc, p.ndc11) == ("0409-2051-05", "00409-2051-05")
    assert Product.objects.filter(ndc="0409205105").count() == 0


# --- CS-25 --------------------------------------------------------------------------------------


def test_cs_25_no_draw_from_an_open_vial_past_its_beyond_use_date(
    nurse, prescriber, location, lot, order, settings
):
    """CS-25: an opened multiple-dose vial's BUD is its first puncture + 28 days (a setting);
    after that the lot gives no draw until the remainder is destroyed (CS-17, CS-21)."""
    punctured = timezone.now() - timedelta(days=28, minutes=5)
    services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="0.80", occurred_at=punctured)
    vial = open_vial(lot)
    assert vial.remaining_ml == D("9.20")
    assert vial.first_punctured_at == punctured
    assert vial.beyond_use_at == punctured + timedelta(days=28)
    with pytest.raises(ValidationError) as err:
        services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="0.80")
    assert "CS-25" in err.value.message_dict["lot"][0]
    settings.CONTROLLED_MDV_BUD_DAYS = 29
    services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="0.20")  # same vial, in BUD
    settings.CONTROLLED_MDV_BUD_DAYS = 28
    second = make_user("nurse", location)
    compliance.destruction_record(
        actor=nurse,
        location=location,
        lines=[(lot, "9.00")],
        method="denaturing kit",
        place="Med room",
        witness_1_email=prescriber.email,
        witness_1_secret=PASSWORD,
        witness_2_email=second.email,
        witness_2_secret=PASSWORD,
    )
    assert open_vial(lot) is None  # only the sealed vial is left
    fresh = services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="0.80")
    assert open_vial(lot).first_punctured_at == fresh.occurred_at


def test_cs_25_a_draw_larger_than_the_open_vial_punctures_the_next_one(nurse, lot, order):
    """CS-25: the new vial's BUD runs from the draw that punctured it."""
    first = services.draw_record(
        actor=nurse,
        lot=lot,
        order=order,
        qty_ml="9.50",
        occurred_at=timezone.now() - timedelta(days=5),
    )
    assert open_vial(lot).first_punctured_at == first.occurred_at
    second = services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="1.00")
    vial = open_vial(lot)
    assert (vial.remaining_ml, vial.first_punctured_at) == (D("9.50"), second.occurred_at)


def test_cs_25_bud_days_must_be_positive(settings):
    settings.CONTROLLED_MDV_BUD_DAYS = 0
    with pytest.raises(ImproperlyConfigured):
        conf.mdv_bud_days()


# --- CS-34 --------------------------------------------------------------------------------------


def test_cs_34_a_drawn_dose_never_goes_back_into_stock(nurse, draw):
    """CS-34: an entry of a dose that would put mL back into the lot is refused by the database
    (a drawn syringe never returns to a vial)."""
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            lot=draw.lot,
            seq=3,
            kind=EntryKind.ADJUSTMENT,
            qty_ml=D("0.80"),
            concentration_mg_per_ml=D("50"),
            qty_mg=D("40"),
            delta_ml=D("0.80"),
            balance_after_ml=D("20.00"),
            occurred_at=timezone.now(),
            actor=nurse,
            witness=make_user("prescriber", draw.lot.location),
            dose=draw,
            reason="back in the vial",
        )
    assert services.balance_ml(draw.lot) == D("19.20")


# --- CS-36 --------------------------------------------------------------------------------------


def test_cs_36_the_receiving_registrant_is_named_with_address_and_checked_dea_number(
    nurse, location, lot
):
    """CS-36: stock leaving to another registrant (here a reverse distributor) records its
    name, address and a valid DEA number."""
    kwargs = {"actor": nurse, "location": location, "lines": [(lot, "10.00")]}
    with pytest.raises(ValidationError) as err:
        compliance.reverse_distributor_return_record(
            distributor_name="", distributor_address="", distributor_dea="AB1234560", **kwargs
        )
    assert set(err.value.message_dict) == {
        "distributor_name",
        "distributor_address",
        "distributor_dea",
    }
    record = compliance.reverse_distributor_return_record(
        distributor_name="Returns Inc",
        distributor_address="9 Dock Rd",
        distributor_dea="ab1234563",
        **kwargs,
    )
    assert (record.distributor_dea, record.distributor_name) == (DEA, "Returns Inc")
    assert services.balance_ml(lot) == D("10.00")


# --- CS-39 --------------------------------------------------------------------------------------


def test_cs_39_a_count_compares_without_moving_stock_and_a_mismatch_opens_a_discrepancy(
    nurse, lot, order
):
    """CS-39: the count stores expected vs found, changes no balance; a mismatch opens a
    Discrepancy that quarantines the lot (§7)."""
    count = services.count_record(actor=nurse, lot=lot, counted_ml="18.00", method="exact")
    assert (count.expected_ml, count.counted_ml, count.variance_ml) == (
        D("20.00"),
        D("18.00"),
        D("-2.00"),
    )
    assert services.balance_ml(lot) == D("20.00")
    assert count.discrepancy.status == DiscrepancyStatus.OPEN
    with pytest.raises(ValidationError):
        services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="0.80")
    match = services.count_record(actor=nurse, lot=lot, counted_ml="20.00", method="exact")
    assert not hasattr(match, "discrepancy")


# --- CS-40 --------------------------------------------------------------------------------------


def test_cs_40_a_correction_reverses_by_a_new_entry_with_reason_and_witness(
    nurse, prescriber, draw
):
    """CS-40: the wrong entry stands; the correction is a new entry pointing at it, with a reason
    and a re-authenticated second person, and its own signed change to the balance."""
    base = {"actor": nurse, "corrects": draw, "delta_ml": "0.10"}
    with pytest.raises(ValidationError):
        services.adjustment_record(reason=" ", **base, **_witness(prescriber))
    with pytest.raises(ValidationError):
        services.adjustment_record(
            reason="typo", witness_email=prescriber.email, witness_secret="wrong", **base
        )
    with pytest.raises(ValidationError):
        services.adjustment_record(
            reason="typo", **{**base, "delta_ml": "0"}, **_witness(prescriber)
        )
    fix = services.adjustment_record(reason="drew 0.70, typed 0.80", **base, **_witness(prescriber))
    assert (fix.kind, fix.corrects, fix.delta_ml) == ("adjustment", draw, D("0.10"))
    assert fix.balance_after_ml == D("19.30")
    draw.refresh_from_db()
    assert draw.qty_ml == D("0.80")


# --- CS-35 and CS-34 (return to stock) ----------------------------------------------------------


@pytest.fixture
def stored_lot(nurse, location, ketamine):
    return services.receipt_record(
        actor=nurse,
        location=location,
        product=ketamine,
        lot_number="L35",
        expiry=timezone.localdate() + timedelta(days=300),
        containers=3,
        supplier="Wholesale",
        invoice_number="INV-35",
        storage="Cabinet A",
    ).lot


def _move(nurse, prescriber, lot, containers, **kw):
    return transfers.storage_transfer_record(
        actor=nurse,
        lot=lot,
        containers=containers,
        place=kw.pop("place", "Room 2 cart"),
        receiver_email=prescriber.email,
        receiver_secret=kw.pop("secret", PASSWORD),
        **kw,
    )


def test_cs_35_internal_transfer_is_signed_by_a_receiver_and_moves_no_stock(
    nurse, prescriber, admin_user, location, stored_lot
):
    """CS-35: cabinet → room cart: from/to, actor and the receiver's re-authenticated signature;
    no ledger entry, the registrant's balance is unchanged; whole sealed vials only."""
    t = _move(nurse, prescriber, stored_lot, 2)
    assert (t.from_place, t.to_place, t.actor, t.receiver) == (
        "Cabinet A",
        "Room 2 cart",
        nurse,
        prescriber,
    )
    assert stored_lot.entries.count() == 1  # the receipt only
    assert services.balance_ml(stored_lot) == D("30.00")
    with pytest.raises(ValidationError):
        _move(nurse, prescriber, stored_lot, 2)  # only one sealed vial left in the cabinet
    with pytest.raises(ValidationError):
        _move(nurse, prescriber, stored_lot, 1, secret="wrong")
    with pytest.raises(ValidationError):
        transfers.storage_transfer_record(
            actor=nurse,
            lot=stored_lot,
            containers=1,
            place="Room 2 cart",
            receiver_email=nurse.email,
            receiver_secret=PASSWORD,
        )
    with pytest.raises(ValidationError):
        _move(nurse, prescriber, stored_lot, 0)
    [row] = _records(admin_user, location, "transfers")
    assert (row["containers"], row["from_place"], row["to_place"]) == (
        "2",
        "Cabinet A",
        "Room 2 cart",
    )
    with pytest.raises(AppendOnlyError):
        t.delete()


def test_cs_34_only_unopened_vials_taken_out_are_returned_to_stock(
    nurse, prescriber, stored_lot, order
):
    """CS-34: a return needs the receiver's confirmation that the vials are unopened, never more
    than are out, never more than the lot's sealed vials (a punctured vial is not returned)."""
    _move(nurse, prescriber, stored_lot, 2)
    with pytest.raises(ValidationError) as err:
        _move(nurse, prescriber, stored_lot, 1, is_return=True)
    assert "CS-34" in err.value.message_dict["sealed_confirmed"][0]
    with pytest.raises(ValidationError):
        _move(nurse, prescriber, stored_lot, 3, is_return=True, sealed_confirmed=True)
    services.draw_record(actor=nurse, lot=stored_lot, order=order, qty_ml="10.50")
    assert transfers.sealed_vials(stored_lot) == 1  # 19.50 mL: one sealed, one punctured
    with pytest.raises(ValidationError):
        _move(nurse, prescriber, stored_lot, 2, is_return=True, sealed_confirmed=True)
    back = _move(nurse, prescriber, stored_lot, 1, is_return=True, sealed_confirmed=True)
    assert (back.from_place, back.to_place, back.is_return) == ("Room 2 cart", "Cabinet A", True)
    assert transfers.vials_out(stored_lot) == 1


def test_cs_35_transfer_page_and_a_lot_without_a_cabinet(nurse, prescriber, location, lot):
    """CS-35 at the edge; CS-9: a lot with no recorded cabinet cannot be moved."""
    url = reverse("controlled:transfer", kwargs={"location_code": location.code})
    client = logged_in_client(nurse)
    response = client.post(
        url,
        {
            "lot": lot.pk,
            "containers": "1",
            "place": "Room 1 cart",
            "receiver_email": prescriber.email,
            "receiver_secret": PASSWORD,
        },
    )
    assert response.status_code == 200
    assert "CS-9" in response.content.decode()
    assert not StorageTransfer.objects.exists()


def test_cs_35_cs_45_postgresql_refuses_changing_a_transfer_behind_the_apps_back(
    nurse, prescriber, stored_lot
):
    """CS-45 for the CS-35 record: on PostgreSQL a trigger refuses UPDATE and DELETE."""
    from django.db import DatabaseError, connection

    if connection.vendor != "postgresql":
        pytest.skip("the triggers exist on PostgreSQL only")
    t = _move(nurse, prescriber, stored_lot, 1)
    for sql in (
        "UPDATE controlled_storagetransfer SET containers = 2 WHERE id = %s",
        "DELETE FROM controlled_storagetransfer WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [t.pk])
    t.refresh_from_db()
    assert t.containers == 1


def test_cs_25_the_ledger_shows_the_open_vial_and_its_beyond_use_date(nurse, location, lot, order):
    """CS-25 on the page: staff see the open vial's remainder and beyond-use date, and when it
    has passed."""
    url = reverse("controlled:ledger", kwargs={"location_code": location.code})
    client = logged_in_client(nurse)
    assert "sealed vials only" in client.get(url).content.decode()
    punctured = timezone.now() - timedelta(days=30)
    services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="0.80", occurred_at=punctured)
    page = client.get(url).content.decode()
    bud = (punctured + timedelta(days=28)).astimezone(location.tzinfo)
    assert f"open vial 9.20 mL, beyond use {bud:%Y-%m-%d %H:%M}" in page
    assert "past its beyond-use date" in page
