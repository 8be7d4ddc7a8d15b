"""`manage.py seed_scale` (issue 13): the rows it promises, written as the application would accept
them, with the audit chain still verifying. Runs on SQLite (bulk_create) and on PostgreSQL (COPY,
INSERT ... SELECT and, outside a test transaction, the writer thread)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection, models
from django.utils import timezone

from infusionclinic.audit.models import AuditChainHead, AuditEvent
from infusionclinic.audit.services import audit_chain_verify
from infusionclinic.billing.models import BillableService, Invoice, InvoiceLine, Payment
from infusionclinic.billing.selectors import infusion_timing, invoice_pump_basis
from infusionclinic.controlled.models import LedgerEntry
from infusionclinic.courses.models import TreatmentCourse
from infusionclinic.dosing.models import DosingOrder
from infusionclinic.infusions import rules
from infusionclinic.infusions.models import InfusionSession, PumpEvent, VitalSign
from infusionclinic.infusions.services import _reading
from infusionclinic.outcomes import scoring
from infusionclinic.outcomes.models import Assessment
from infusionclinic.patients.models import Patient
from infusionclinic.scheduling.models import Appointment

N = 12
SEEDED_APPS = {
    "patients", "courses", "dosing", "scheduling", "infusions", "outcomes", "billing",
    "controlled", "audit",
}  # fmt: skip


def _seed(n: int = N, seed: int = 13) -> str:
    out = StringIO()
    call_command("seed_scale", "--patients", str(n), "--seed", str(seed), stdout=out)
    return out.getvalue()


def _assert_foreign_keys_hold() -> None:
    """Every foreign key the seeded tables hold points at an existing row (on PostgreSQL the
    generator skips the per-row triggers, so this is what proves the keys right)."""
    for model in apps.get_models():
        if model._meta.app_label not in SEEDED_APPS:
            continue
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.ForeignKey):
                continue
            parent = field.related_model._default_manager.values("pk")
            dangling = (
                model._default_manager.exclude(**{f"{field.attname}__isnull": True})
                .exclude(**{f"{field.attname}__in": parent})
                .count()
            )
            assert dangling == 0, f"{model.__name__}.{field.name}: {dangling} dangling"


def _assert_ledgers_balance() -> None:
    """CS-41: per lot, entries numbered 1..n, each balance the running sum of the signed changes
    and never below zero; draws name a signed order and its patient (CS-42)."""
    by_lot = defaultdict(list)
    for entry in LedgerEntry.objects.order_by("lot_id", "seq"):
        by_lot[entry.lot_id].append(entry)
    assert by_lot
    for entries in by_lot.values():
        balance = Decimal(0)
        previous = None
        for number, entry in enumerate(entries, start=1):
            assert entry.seq == number
            balance += entry.delta_ml
            assert entry.balance_after_ml == balance
            assert balance >= 0
            assert entry.qty_mg == entry.qty_ml * entry.concentration_mg_per_ml  # CS-48
            assert previous is None or entry.occurred_at >= previous
            previous = entry.occurred_at
            if entry.kind == "draw":
                assert entry.order.is_signed
                assert entry.order.patient_id == entry.patient_id


def _assert_no_chair_double_booked() -> None:
    by_chair = defaultdict(list)
    for a in Appointment.objects.filter(chair__isnull=False).order_by("chair_id", "starts_at"):
        by_chair[a.chair_id].append(a)
    for appointments in by_chair.values():
        for before, after in zip(appointments, appointments[1:], strict=False):
            assert before.ends_at <= after.starts_at, (before.pk, after.pk)


@pytest.mark.django_db
def test_seed_writes_the_promised_volume_per_patient():
    output = _seed()
    assert "patients.Patient" in output
    assert "seconds:" in output
    assert Patient.objects.count() == N
    assert TreatmentCourse.objects.count() == N
    discharged = InfusionSession.objects.filter(state="discharged")
    assert 8 * N <= discharged.count() <= 12 * N  # about 10 infusions each
    in_progress = InfusionSession.objects.filter(state="infusing")
    assert 1 <= in_progress.count() <= 8
    # 10 readings per completed session, 3 so far per session in progress
    assert VitalSign.objects.count() == 10 * discharged.count() + 3 * in_progress.count()
    assert PumpEvent.objects.count() == 2 * discharged.count() + in_progress.count()
    assert Appointment.objects.filter(kind="consultation").count() == N
    assert Appointment.objects.filter(kind="infusion").count() == InfusionSession.objects.count()
    assert Invoice.objects.count() == InvoiceLine.objects.count() == discharged.count()
    assert Payment.objects.count() == discharged.count()
    assert LedgerEntry.objects.filter(kind="draw").count() == discharged.count()
    assert DosingOrder.objects.exclude(status="signed").count() == 0
    assert N <= DosingOrder.objects.count() <= 2 * N
    assert Assessment.objects.count() >= 5 * N
    assert AuditEvent.objects.count() >= 15 * N


@pytest.mark.django_db
def test_seeded_rows_are_ones_the_application_accepts():
    _seed()
    _assert_foreign_keys_hold()
    _assert_ledgers_balance()
    _assert_no_chair_double_booked()
    for session in InfusionSession.objects.filter(state="discharged").select_related(
        "appointment", "order"
    )[:50]:
        assert session.appointment.status == "completed"
        assert session.appointment.patient_id == session.patient_id == session.order.patient_id
        assert session.order.is_signed
        assert session.discharged_at > session.infusion_ended_at > session.checked_in_at
        vitals = list(session.vitals.order_by("taken_at"))
        baseline = _reading(vitals[0])
        for vital in vitals:  # inside every monitoring threshold: no alert is owed
            pre = vital.phase == "pre"
            reading = _reading(vital)
            assert (
                rules.reading_findings(
                    reading, baseline=None if pre else baseline, pre_infusion=pre
                )
                == []
            )
        invoice = Invoice.objects.select_related("location").get(appointment=session.appointment)
        assert invoice.infusion_session_id == session.pk
        assert invoice.lines.get().unit_price == invoice.payments.get().amount
        # CODE-PX-R1: the frozen running time is the pump record's, and its codes are the line's.
        timing = infusion_timing(appointment=session.appointment)
        assert (invoice.infusion_started_at, invoice.infusion_stopped_at) == (
            timing.started_at,
            timing.stopped_at,
        )
        assert invoice.infusion_running == timing.running
        line = invoice.lines.get()
        assert [(c.code, c.units) for c in invoice_pump_basis(invoice).codes] == [
            (line.code, line.units)
        ]
        # CS-42: the session's dose was drawn for it, on its signed order, for its patient.
        (draw,) = LedgerEntry.objects.filter(kind="draw", session=session)
        assert (draw.order_id, draw.patient_id) == (session.order_id, session.patient_id)
    for assessment in Assessment.objects.select_related("instrument")[:50]:
        spec = assessment.instrument.spec
        score = scoring.score(spec, assessment.answers)  # SCALE-1: complete and valid
        assert assessment.total == score.total
        assert assessment.severity == (score.band.label if score.band else "")
        assert scoring.triggered_alerts(spec, assessment.answers) == []  # SCALE-4
    today = timezone.localdate()
    for session in InfusionSession.objects.filter(state="infusing").select_related(
        "appointment", "location"
    ):
        assert session.appointment.status == "booked"
        assert session.appointment.starts_at.astimezone(session.location.tzinfo).date() in {
            today,
            today - timedelta(days=1),
        }


@pytest.mark.django_db
def test_audit_chain_verifies_after_seeding_and_after_a_second_run():
    _seed()
    first = AuditEvent.objects.count()
    assert audit_chain_verify() == (first, None)
    _seed(seed=14)
    assert Patient.objects.count() == 2 * N
    total = AuditEvent.objects.count()
    assert total > first
    assert audit_chain_verify() == (total, None)
    assert AuditChainHead.objects.get(pk=1).seq == total
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "intact" in out.getvalue()
    _assert_no_chair_double_booked()
    _assert_ledgers_balance()


@pytest.mark.django_db(transaction=True)
def test_seed_outside_a_transaction_writes_through_the_pipeline(monkeypatch):
    """Outside a transaction (as from the command line) PostgreSQL writes on writer threads, two
    chunks at a time: small chunks here, so that they do overlap and may commit out of order."""
    from infusionclinic.ops import scale

    monkeypatch.setattr(scale, "CHUNK", 2)
    BillableService.objects.get_or_create(
        code="96365", defaults={"label": "IV infusion, first hour", "timed": True}
    )
    _seed(n=9)
    assert Patient.objects.count() == 9
    assert audit_chain_verify() == (AuditEvent.objects.count(), None)
    _assert_foreign_keys_hold()
    _assert_ledgers_balance()
    _assert_no_chair_double_booked()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "between 1 and"),
        ("-3", "between 1 and"),
        ("ten", "whole number"),
        ("2.5", "whole number"),
        ("100000000", "between 1 and"),
    ],
)
def test_bad_patient_counts_are_refused_clearly(value, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_scale", "--patients", value)
    assert Patient.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_rebuild_indexes_puts_every_index_back():
    """--rebuild-indexes (PostgreSQL, outside a transaction) drops the big tables' secondary
    indexes for the load: afterwards each one is there again, unique ones never left."""
    BillableService.objects.get_or_create(
        code="96365", defaults={"label": "IV infusion, first hour", "timed": True}
    )
    tables = [VitalSign, AuditEvent, Appointment, InfusionSession, LedgerEntry]

    def indexes() -> dict[str, set[str]]:
        with connection.cursor() as cursor:
            return {
                m._meta.db_table: set(
                    connection.introspection.get_constraints(cursor, m._meta.db_table)
                )
                for m in tables
            }

    before = indexes()
    call_command("seed_scale", "--patients", "3", "--rebuild-indexes", stdout=StringIO())
    assert indexes() == before
    assert audit_chain_verify()[1] is None
