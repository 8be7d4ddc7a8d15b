"""Billing migrations 0003 (the integer `infusion_session_id` becomes a foreign key) and 0004
(`infusion_running` backfilled from the pump events), run against rows the current models write.

The full round trip on a seeded database (migrate back to 0002, a dangling id stops 0003 with
its invoice named, forward again with values kept) was run by hand on SQLite and PostgreSQL; these
tests pin the two functions that decide it."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps

from infusionclinic.billing import services
from infusionclinic.billing.models import Invoice
from tests.factories import PatientFactory, make_user

from .factories import completed_appointment, infusion_session, price

pytestmark = pytest.mark.django_db

fk_migration = import_module("infusionclinic.billing.migrations.0003_invoice_infusion_session_fk")
running_migration = import_module("infusionclinic.billing.migrations.0004_invoice_infusion_running")


@pytest.fixture
def billed(location):
    desk = make_user("front_desk", location)
    price(location, "96365", "400.00")
    patient = PatientFactory(home_location=location)
    appointment = completed_appointment(patient, location, infusion_minutes=None)
    session = infusion_session(
        appointment, pump=[("start", 20), ("pause", 30), ("resume", 45), ("stop", 80)]
    )
    return services.invoice_create(actor=desk, appointment=appointment, lines=[]), session


def test_0003_passes_when_every_session_id_names_a_session(billed):
    assert fk_migration.dangling_sessions(apps) == []
    fk_migration.refuse_dangling(apps, None)


def test_0003_stops_naming_the_invoice_and_the_missing_session(billed, location):
    invoice, _ = billed
    # A row the old integer column allowed: the constraint is deferred, so it exists until the
    # end of this test's transaction; the test deletes it before then.
    orphan = Invoice.objects.create(
        patient=invoice.patient,
        location=location,
        date_of_service=invoice.date_of_service,
        infusion_session_id=987654321,
    )
    try:
        assert fk_migration.dangling_sessions(apps) == [(orphan.pk, 987654321)]
        with pytest.raises(fk_migration.DanglingInfusionSessions) as exc:
            fk_migration.refuse_dangling(apps, None)
        assert f"invoice {orphan.pk} -> session 987654321" in str(exc.value)
        assert "Nothing was changed" in str(exc.value)
    finally:
        orphan.delete()


def test_0004_backfills_the_running_time_from_the_pump_events(billed):
    """10 min, a 15-minute pause, 35 min: 45 min ran, as invoice_create froze it."""
    invoice, _ = billed
    assert invoice.infusion_running == timedelta(minutes=45)
    Invoice.objects.filter(pk=invoice.pk).update(infusion_running=None)
    running_migration.backfill(apps, None)
    invoice.refresh_from_db()
    assert invoice.infusion_running == timedelta(minutes=45)


def test_0004_leaves_invoices_without_a_stopped_pump_alone(billed, location):
    invoice, session = billed
    session.pump.filter(action="stop").delete()
    Invoice.objects.filter(pk=invoice.pk).update(infusion_running=None)
    running_migration.backfill(apps, None)
    invoice.refresh_from_db()
    assert invoice.infusion_running is None
