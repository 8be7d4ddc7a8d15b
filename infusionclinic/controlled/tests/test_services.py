"""The controlled-substance ledger: receipt (CS-30), draws tied to a signed order (CS-31, CS-42),
administration and witnessed waste (CS-32, CS-33, CS-44), the never-negative balance (CS-41), and
append-only records (CS-45)."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.controlled import services
from infusionclinic.controlled.models import (
    AppendOnlyError,
    Count,
    DiscrepancyStatus,
    EntryKind,
    LedgerEntry,
)
from infusionclinic.dosing.models import OrderStatus
from infusionclinic.dosing.tests.factories import current_code, totp_device
from tests.factories import PASSWORD, LocationFactory, make_user

from .factories import receive

pytestmark = pytest.mark.django_db


def test_cs24_ndc11_pads_the_short_segment_and_refuses_unhyphenated():
    assert services.ndc11("0409-2051-05") == "00409-2051-05"
    assert services.ndc11("42023-113-10") == "42023-0113-10"
    assert services.ndc11("12345-6789-1") == "12345-6789-01"
    with pytest.raises(ValidationError):
        services.ndc11("4202311310")


def test_cs48_strength_of_a_received_ndc_cannot_change(ketamine):
    with pytest.raises(ValidationError):
        services.product_get_or_create(
            ndc=ketamine.ndc, name="x", strength_mg_per_ml="100", container_ml="10"
        )


def test_cs30_receipt_adds_full_vials_with_invoice_and_is_audited(nurse, location, ketamine):
    entry = receive(nurse, location, ketamine, containers=3)
    assert (entry.kind, entry.qty_ml, entry.qty_mg, entry.balance_after_ml) == (
        "receipt",
        D("30.00"),
        D("1500.000"),
        D("30.00"),
    )
    assert entry.invoice_number == "INV-1"
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="controlled.LedgerEntry", object_id=str(entry.pk)
    ).exists()


def test_cs8_receipt_needs_an_invoice(nurse, location, ketamine):
    with pytest.raises(ValidationError) as exc:
        services.receipt_record(
            actor=nurse,
            location=location,
            product=ketamine,
            lot_number="L1",
            expiry=date(2030, 1, 1),
            containers=1,
            supplier="S",
            invoice_number="",
        )
    assert "invoice_number" in exc.value.message_dict


@pytest.mark.parametrize("role", ["front_desk", "admin", "patient"])
def test_only_nurses_and_prescribers_record(role, location, ketamine):
    with pytest.raises(PermissionDenied):
        receive(make_user(role, location), location, ketamine)


def test_staff_record_only_at_their_own_location(other_location, ketamine):
    nurse = make_user("nurse", other_location)
    with pytest.raises(PermissionDenied):
        receive(nurse, LocationFactory(), ketamine)


def test_worked_example_path_b(nurse, prescriber, location, ketamine, order):
    """§8: 10 mL vial at 50 mg/mL; draw 0.80 mL (40 mg); administer 30 mg; waste 10 mg."""
    vial = receive(nurse, location, ketamine).lot
    draw = services.draw_record(actor=nurse, lot=vial, order=order, qty_ml="0.80")
    assert (draw.qty_mg, draw.balance_after_ml, draw.patient) == (D("40"), D("9.20"), order.patient)
    services.administration_record(actor=nurse, draw=draw, qty_ml="0.60")
    waste = services.waste_record(
        actor=nurse,
        draw=draw,
        qty_ml="0.20",
        reason="left in line",
        witness_email=prescriber.email,
        witness_secret=PASSWORD,
    )
    assert waste.qty_mg == D("10")
    assert waste.witness == prescriber
    assert services.dose_remaining_ml(draw) == 0  # CS-43: 30 + 10 = 40
    assert services.balance_ml(vial) == D("9.20")
    with pytest.raises(ValidationError):  # nothing of the dose is left to account for
        services.administration_record(actor=nurse, draw=draw, qty_ml="0.01")


def test_cs41_draw_beyond_the_balance_is_refused_and_writes_nothing(
    nurse, location, ketamine, order
):
    lot = receive(nurse, location, ketamine).lot
    with pytest.raises(ValidationError):
        services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="10.01")
    assert lot.entries.count() == 1
    assert services.balance_ml(lot) == D("10.00")


def test_cs41_database_refuses_a_negative_balance(nurse, location, ketamine):
    lot = receive(nurse, location, ketamine).lot
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            lot=lot,
            seq=2,
            kind=EntryKind.LOSS,
            qty_ml=D("11"),
            concentration_mg_per_ml=D("50"),
            qty_mg=D("550"),
            delta_ml=D("-11"),
            balance_after_ml=D("-1"),
            occurred_at=lot.created_at,
            actor=nurse,
        )


def test_cs42_draw_needs_a_signed_order(nurse, prescriber, location, ketamine, patient):
    from infusionclinic.dosing import services as dosing_services
    from infusionclinic.dosing.tests.factories import STANDARD

    draft = dosing_services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    assert draft.status == OrderStatus.DRAFT
    lot = receive(nurse, location, ketamine).lot
    with pytest.raises(ValidationError) as exc:
        services.draw_record(actor=nurse, lot=lot, order=draft, qty_ml="1")
    assert "order" in exc.value.message_dict
    assert lot.entries.count() == 1


def test_cs42_draw_refused_for_a_patient_of_another_location(
    nurse, location, other_location, ketamine, order
):
    nurse.locations.add(other_location)
    lot = receive(nurse, other_location, ketamine).lot
    with pytest.raises(ValidationError) as exc:
        services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="1")
    assert "order" in exc.value.message_dict


def test_cs42_draw_needs_an_open_encounter(nurse, prescriber, location, ketamine, patient):
    from infusionclinic.infusions import services as infusions

    from .factories import open_encounter, signed_order

    order = signed_order(patient, prescriber, open_session=False)
    lot = receive(nurse, location, ketamine).lot
    with pytest.raises(ValidationError) as exc:
        services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="1")
    assert "CS-42" in exc.value.message_dict["order"][0]
    session = open_encounter(nurse, order)
    assert services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="1").kind == "draw"
    infusions.session_cancel(actor=nurse, session=session, no_show=False, reason="unwell")
    with pytest.raises(ValidationError):
        services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="1")


def test_cs31_draw_from_an_expired_lot_is_refused(nurse, location, ketamine, order):
    lot = receive(
        nurse,
        location,
        ketamine,
        expiry=timezone.localdate(timezone=location.tzinfo) - timedelta(days=1),
    ).lot
    with pytest.raises(ValidationError) as exc:
        services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="1")
    assert "lot" in exc.value.message_dict


@pytest.fixture
def draw(nurse, location, ketamine, order):
    lot = receive(nurse, location, ketamine).lot
    return services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="1.00")


def _waste(actor, draw, email, secret):
    return services.waste_record(
        actor=actor,
        draw=draw,
        qty_ml="0.50",
        reason="remainder",
        witness_email=email,
        witness_secret=secret,
    )


def test_cs44_witness_with_a_totp_code(nurse, location, draw):
    witness = make_user("nurse", location)
    device = totp_device(witness)
    assert _waste(nurse, draw, witness.email, current_code(device)).witness == witness


def test_cs44_wrong_witness_password_is_refused_and_audited(nurse, prescriber, draw):
    with pytest.raises(ValidationError) as exc:
        _waste(nurse, draw, prescriber.email, "wrong-password")
    assert "witness_secret" in exc.value.message_dict
    assert not draw.dose_entries.exists()
    assert AuditEvent.objects.filter(actor=prescriber, action=AuditAction.LOGIN_FAILED).exists()


def test_cs44_actor_cannot_witness_their_own_waste(nurse, draw):
    with pytest.raises(ValidationError) as exc:
        _waste(nurse, draw, nurse.email, PASSWORD)
    assert "witness_email" in exc.value.message_dict
    assert not draw.dose_entries.exists()


@pytest.mark.parametrize("role", ["front_desk", "admin", "patient"])
def test_cs44_witness_must_be_a_licensed_user(role, nurse, location, draw):
    other = make_user(role, location)
    with pytest.raises(ValidationError) as exc:
        _waste(nurse, draw, other.email, PASSWORD)
    assert "witness_email" in exc.value.message_dict


def test_cs44_witness_must_be_active_and_at_this_location(nurse, location, other_location, draw):
    inactive = make_user("nurse", location)
    inactive.is_active = False
    inactive.save()
    elsewhere = make_user("nurse", other_location)
    for witness in (inactive, elsewhere):
        with pytest.raises(ValidationError):
            _waste(nurse, draw, witness.email, PASSWORD)
    assert not draw.dose_entries.exists()


@override_settings(CONTROLLED_WITNESS_ROLES=["prescriber"])
def test_cs44_witness_roles_are_a_setting(nurse, location, prescriber, draw):
    with pytest.raises(ValidationError):
        _waste(nurse, draw, make_user("nurse", location).email, PASSWORD)
    assert _waste(nurse, draw, prescriber.email, PASSWORD).witness == prescriber


def test_cs44_database_refuses_waste_without_another_witness(nurse, draw):
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            lot=draw.lot,
            seq=99,
            kind=EntryKind.WASTE,
            qty_ml=D("0.1"),
            concentration_mg_per_ml=D("50"),
            qty_mg=D("5"),
            delta_ml=D("0"),
            balance_after_ml=D("9"),
            occurred_at=draw.occurred_at,
            actor=nurse,
            witness=nurse,
            dose=draw,
        )


def test_cs37_destruction_is_not_a_plain_stock_out(nurse, prescriber, draw):
    """CS-17: destruction goes on Form 41 with two witnesses (test_compliance pins it)."""
    with pytest.raises(ValidationError):
        services.stock_out_record(
            actor=nurse,
            lot=draw.lot,
            kind="destruction",
            qty_ml="9.00",
            reason="BUD passed",
            witness_email=prescriber.email,
            witness_secret=PASSWORD,
        )
    assert services.balance_ml(draw.lot) == D("9.00")


def test_cs40_correction_is_a_new_witnessed_entry(nurse, prescriber, draw):
    fix = services.adjustment_record(
        actor=nurse,
        corrects=draw,
        delta_ml="0.10",
        reason="drew 0.90, typed 1.00",
        witness_email=prescriber.email,
        witness_secret=PASSWORD,
    )
    assert fix.corrects == draw
    assert fix.balance_after_ml == D("9.10")
    draw.refresh_from_db()
    assert draw.qty_ml == D("1.00")  # the original stands


def test_cs45_entries_and_counts_refuse_update_and_delete(nurse, draw):
    with pytest.raises(AppendOnlyError):
        draw.save()
    with pytest.raises(AppendOnlyError):
        draw.delete()
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=draw.pk).update(qty_ml=D("0.1"))
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.all().delete()
    count = services.count_record(actor=nurse, lot=draw.lot, counted_ml="9.00", method="exact")
    with pytest.raises(AppendOnlyError):
        Count.objects.filter(pk=count.pk).update(counted_ml=D("1"))


def test_r2_matching_count_opens_no_discrepancy(nurse, draw):
    count = services.count_record(actor=nurse, lot=draw.lot, counted_ml="9.00", method="exact")
    assert count.variance_ml == 0
    assert not hasattr(count, "discrepancy")


def test_s7_estimated_count_within_tolerance_is_only_noted(nurse, draw):
    count = services.count_record(actor=nurse, lot=draw.lot, counted_ml="8.50", method="estimated")
    assert not hasattr(count, "discrepancy")
    count = services.count_record(actor=nurse, lot=draw.lot, counted_ml="8.49", method="estimated")
    assert count.discrepancy.status == DiscrepancyStatus.OPEN


def test_s7_exact_count_has_zero_tolerance(nurse, draw):
    count = services.count_record(actor=nurse, lot=draw.lot, counted_ml="8.99", method="exact")
    assert count.discrepancy.status == DiscrepancyStatus.OPEN


def test_s7_discrepancy_workflow_to_reported_loss(nurse, prescriber, order, draw):
    count = services.count_record(actor=nurse, lot=draw.lot, counted_ml="7.00", method="exact")
    d = count.discrepancy
    with pytest.raises(ValidationError):  # investigate first
        services.discrepancy_close(actor=nurse, discrepancy=d, outcome="resolved", reason="x")
    with pytest.raises(ValidationError):  # the lot is quarantined while open (§7 step 1)
        services.draw_record(actor=nurse, lot=draw.lot, order=order, qty_ml="1")
    d = services.discrepancy_investigate(actor=nurse, discrepancy=d, notes="recounted: 7.00")
    with pytest.raises(ValidationError, match="recount"):  # §7 step 2 before closing
        services.discrepancy_close(
            actor=prescriber, discrepancy=d, outcome="reported_loss", reason="unexplained"
        )
    d = _recount(nurse, d, prescriber, "7.00", "7.00")
    d = services.discrepancy_close(
        actor=prescriber, discrepancy=d, outcome="reported_loss", reason="unexplained"
    )
    assert d.status == DiscrepancyStatus.REPORTED_LOSS
    assert (d.loss_entry.kind, d.loss_entry.qty_ml) == ("loss", D("2.00"))
    assert services.balance_ml(draw.lot) == D("7.00")
    assert AuditEvent.objects.filter(object_type="controlled.Discrepancy").count() == 3


@pytest.mark.parametrize(
    ("first_ml", "second_ml", "missing"),
    [("7.50", "7.50", "1.50"), ("7.50", "7.20", "1.80"), ("6.90", "7.40", "2.10")],
)
def test_s7_a_reported_loss_is_sized_by_the_recount(
    nurse, prescriber, draw, first_ml, second_ml, missing
):
    """The first count (7.00 of 9.00) opened it; the two recounts decide the missing quantity,
    the lower of them when they differ (a loss is never under-reported)."""
    count = services.count_record(actor=nurse, lot=draw.lot, counted_ml="7.00", method="exact")
    d = services.discrepancy_investigate(actor=nurse, discrepancy=count.discrepancy, notes="x")
    d = _recount(nurse, d, prescriber, first_ml, second_ml)
    d = services.discrepancy_close(
        actor=prescriber, discrepancy=d, outcome="reported_loss", reason="unexplained"
    )
    assert d.loss_entry.qty_ml == D(missing)
    assert services.balance_ml(draw.lot) == D("9.00") - D(missing)
    assert f"recounted {D(first_ml)} / {D(second_ml)} mL" in d.loss_entry.loss_report.circumstances


def _recount(actor, discrepancy, second, first_ml, second_ml, secret=PASSWORD):
    return services.discrepancy_recount(
        actor=actor,
        discrepancy=discrepancy,
        first_count_ml=first_ml,
        second_count_ml=second_ml,
        second_counter_email=second.email,
        second_counter_secret=secret,
    )


def test_s7_recount_by_two_users_stores_both_counts_and_is_audited(nurse, prescriber, draw):
    d = services.count_record(actor=nurse, lot=draw.lot, counted_ml="8.00", method="exact")
    d = _recount(nurse, d.discrepancy, prescriber, "8.00", "8.10")
    d.refresh_from_db()
    assert (d.recount_first_ml, d.recount_first_by) == (D("8.00"), nurse)
    assert (d.recount_second_ml, d.recount_second_by) == (D("8.10"), prescriber)
    assert d.recounted_at is not None
    assert d.recounts_agree is False
    event = AuditEvent.objects.filter(object_type="controlled.Discrepancy").latest("pk")
    assert event.detail["step"] == "recount"
    assert (event.detail["first_count_ml"], event.detail["second_count_ml"]) == ("8.00", "8.10")
    assert (event.detail["first_by"], event.detail["second_by"]) == (nurse.email, prescriber.email)
    with pytest.raises(ValidationError, match="already"):  # once, at once (§7 step 2)
        _recount(nurse, d, prescriber, "8.00", "8.00")


def test_s7_recount_needs_a_second_distinct_licensed_reauthenticated_user(
    nurse, prescriber, location, draw
):
    d = services.count_record(actor=nurse, lot=draw.lot, counted_ml="8.00", method="exact")
    d = d.discrepancy
    with pytest.raises(ValidationError) as same:  # the same person twice is not a recount
        _recount(nurse, d, nurse, "8.00", "8.00")
    assert "second_counter_email" in same.value.message_dict
    with pytest.raises(ValidationError) as desk:
        _recount(nurse, d, make_user("front_desk", location), "8.00", "8.00")
    assert "second_counter_email" in desk.value.message_dict
    with pytest.raises(ValidationError) as wrong:
        _recount(nurse, d, prescriber, "8.00", "8.00", secret="not the password")
    assert "second_counter_secret" in wrong.value.message_dict
    # The failed re-authentication is kept in the audit log with its purpose.
    assert AuditEvent.objects.filter(
        actor=prescriber,
        action=AuditAction.LOGIN_FAILED,
        detail__reauthentication="controlled.recount",
    ).exists()
    with pytest.raises(ValidationError) as bad:
        _recount(nurse, d, prescriber, "-1", "8.00")
    assert "first_count_ml" in bad.value.message_dict
    d.refresh_from_db()
    assert d.recounted_at is None


def test_s7_database_refuses_a_recount_by_one_person(nurse, draw):
    d = services.count_record(actor=nurse, lot=draw.lot, counted_ml="8.00", method="exact")
    d = d.discrepancy
    d.recount_first_ml = d.recount_second_ml = D("8.00")
    d.recount_first_by = d.recount_second_by = nurse
    d.recounted_at = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        d.save()


def test_s7_discrepancy_resolved_with_a_reason_leaves_the_balance(nurse, draw):
    d = services.count_record(actor=nurse, lot=draw.lot, counted_ml="9.20", method="exact")
    d = services.discrepancy_investigate(actor=nurse, discrepancy=d.discrepancy, notes="overfill")
    d = _recount(nurse, d, make_user("prescriber", d.lot.location), "9.20", "9.20")
    with pytest.raises(ValidationError):
        services.discrepancy_close(actor=nurse, discrepancy=d, outcome="resolved", reason=" ")
    d = services.discrepancy_close(
        actor=nurse, discrepancy=d, outcome="resolved", reason="overfill in a new vial"
    )
    assert d.status == DiscrepancyStatus.RESOLVED
    assert d.loss_entry is None
    assert services.balance_ml(d.lot) == D("9.00")


def test_cs45_postgresql_refuses_update_and_delete_behind_the_apps_back(nurse, draw):
    from django.db import DatabaseError, connection

    if connection.vendor != "postgresql":
        pytest.skip("the triggers exist on PostgreSQL only")
    for sql in (
        "UPDATE controlled_ledgerentry SET qty_ml = 0 WHERE id = %s",
        "DELETE FROM controlled_ledgerentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [draw.pk])


def test_nav_shows_the_log_to_those_who_may_view_it(location):
    from tests.factories import logged_in_client

    nurse_page = logged_in_client(make_user("nurse", location)).get("/", follow=True)
    desk_page = logged_in_client(make_user("front_desk", location)).get("/", follow=True)
    assert nurse_page.status_code == desk_page.status_code == 200
    assert b"Controlled substances" in nurse_page.content
    assert b"Controlled substances" not in desk_page.content


def test_cs5_cs45_event_time_is_kept_and_back_dated_entries_are_flagged(nurse, location, ketamine):
    arrived = timezone.now() - timedelta(hours=3)
    entry = services.receipt_record(
        actor=nurse,
        location=location,
        product=ketamine,
        lot_number="B1",
        expiry=date(2030, 1, 1),
        containers=1,
        supplier="S",
        invoice_number="I",
        received_at=arrived,
    )
    assert entry.occurred_at == arrived
    assert entry.is_late
    assert not receive(nurse, location, ketamine, lot_number="B2").is_late
    receive_later = timezone.now() + timedelta(hours=1)
    with pytest.raises(ValidationError):
        services.receipt_record(
            actor=nurse,
            location=location,
            product=ketamine,
            lot_number="B3",
            expiry=date(2030, 1, 1),
            containers=1,
            supplier="S",
            invoice_number="I",
            received_at=receive_later,
        )
