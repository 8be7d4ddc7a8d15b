"""Issue 22 point 10: one owner of "dose given" (`infusions/dose.py`), read by the session page,
its note, the session API, billing (the invoice's running time, CODE-PX-R1) and FHIR
(MedicationAdministration), and reconciled with the controlled-substance log's administration
entry (controlled-substances.md CS-32: administered may be less than drawn; CS-33: the rest is
wasted; CS-43: administered + wasted = drawn, exact).

The order (billing factories): 40 mL at 60 mL/h, 1 mg/mL = 1 mg per running minute. The pump:
start at 20 min, pause at 30, resume at 45, stop at 80 → 10 + 35 = 45 running minutes (the 15
paused minutes excluded) = 45.0 mg. The vials: 50 mg/mL (§8), so 45 mg = 0.90 mL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import timezone

from infusionclinic.billing import services as billing
from infusionclinic.billing.selectors import infusion_timing
from infusionclinic.billing.tests.factories import completed_appointment, infusion_session, price
from infusionclinic.controlled import services as cs
from infusionclinic.controlled.tests.factories import product, receive
from infusionclinic.fhir.mapping import medication_administration_resource
from infusionclinic.infusions import dose, services
from infusionclinic.infusions.models import InfusionSession
from tests.factories import logged_in_client, make_user

pytestmark = pytest.mark.django_db

PUMP = [("start", 20), ("pause", 30), ("resume", 45), ("stop", 80)]
RUNNING_MIN = 45


@pytest.fixture
def appointment(location, patient):
    return completed_appointment(patient, location, infusion_minutes=None)


def _session(appointment, nurse, *, state="discharged") -> InfusionSession:
    return infusion_session(appointment, pump=PUMP, state=state, nurse=nurse)


def _expected_mg(session: InfusionSession) -> D:
    order = session.order
    seconds = D(RUNNING_MIN * 60)
    return (seconds / 3600 * order.rate_ml_per_h * order.concentration_mg_per_ml).quantize(D("0.1"))


def _session_with_administration(appointment, nurse, location, *, administered_ml: str):
    """The pump record above, a 1.00 mL (50 mg) draw for it and `administered_ml` entered as
    administered (with a reason when it differs from the pump), then the infusion over."""
    session = _session(appointment, nurse, state="paused")
    lot = receive(nurse, location, product()).lot
    draw = cs.draw_record(actor=nurse, lot=lot, order=session.order, qty_ml="1.00", session=session)
    cs.administration_record(
        actor=nurse, draw=draw, qty_ml=administered_ml, reason="typed from the bag label"
    )
    InfusionSession.objects.filter(pk=session.pk).update(
        state="discharged", infusion_ended_at=appointment.starts_at + timedelta(minutes=80)
    )
    session.refresh_from_db()
    return session, draw


def test_billing_fhir_session_page_and_api_read_one_dose_given_with_pauses(
    appointment, nurse, location
):
    """Point 10: the pause is excluded once, in one place, and every reader shows that figure."""
    session = _session(appointment, nurse)
    record = dose.pump_record(session)
    assert record.running == timedelta(minutes=RUNNING_MIN)
    assert record.started_at == appointment.starts_at + timedelta(minutes=20)
    assert record.stopped_at == appointment.starts_at + timedelta(minutes=80)
    expected = _expected_mg(session)
    assert expected == D("45.0")
    assert record.dose_mg == dose.dose_given_mg(session) == expected
    # Billing: the invoice's running time (CODE-PX-R1) is the same pump record's.
    timing = infusion_timing(appointment=appointment)
    assert (timing.started_at, timing.stopped_at, timing.running) == (
        record.started_at,
        record.stopped_at,
        record.running,
    )
    price(location, "96365", "400.00")
    invoice = billing.invoice_create(
        actor=make_user("front_desk", location), appointment=appointment, lines=[]
    )
    assert invoice.infusion_running == record.running
    # FHIR MedicationAdministration.
    resource = medication_administration_resource(session)
    assert resource["dosage"]["dose"]["value"] == float(expected)
    # The session page and the note.
    client = logged_in_client(nurse)
    page = client.get(reverse("infusions:session", args=[session.pk])).content.decode()
    assert f'id="dose-given">{expected} mg' in page
    assert f"Dose given (pump running time × rate × concentration): {expected} mg" in (
        services.note_text(session)
    )


def test_a_ledger_administration_that_disagrees_with_the_pump_is_flagged_everywhere(
    appointment, nurse, location
):
    """CS-32: the log says 0.50 mL (25 mg) administered, the pump 45 mg: the session page, the
    ledger page and the note name the discrepancy and say which figure is the dose given."""
    session, _ = _session_with_administration(appointment, nurse, location, administered_ml="0.50")
    check = dose.session_dose_check(session)
    assert check.pump_mg == D("45.0")
    assert check.administered_mg == D("25.00")
    assert check.ledger_disagrees
    client = logged_in_client(nurse)
    page = client.get(reverse("infusions:session", args=[session.pk])).content.decode()
    assert 'id="dose-ledger-disagrees"' in page
    assert "Dose discrepancy (CS-32)" in page
    ledger = client.get(reverse("controlled:ledger", args=[location.code])).content.decode()
    assert 'id="dose-disagreements"' in ledger
    assert f"Session {session.pk}</a>" in ledger
    assert "pump 45.0 mg, log 25 mg administered" in ledger
    assert "not resolved" in ledger
    note = services.note_text(session)
    assert (
        "Dose given 45.0 mg is the pump's record; the controlled-substance log's administration "
        "(25.0 mg) DISAGREES by 20.0 mg (CS-32)." in note
    )
    # The dose every other reader reports stays the pump's (never silently replaced).
    assert medication_administration_resource(session)["dosage"]["dose"]["value"] == 45.0


def test_a_ledger_administration_within_rounding_is_not_flagged(appointment, nurse, location):
    """CS-32 with the ledger's 0.01 mL step: 0.90 mL × 50 mg/mL = 45 mg agrees."""
    session, _ = _session_with_administration(appointment, nurse, location, administered_ml="0.90")
    check = dose.session_dose_check(session)
    assert not check.ledger_disagrees
    client = logged_in_client(nurse)
    ledger = client.get(reverse("controlled:ledger", args=[location.code])).content.decode()
    assert 'id="dose-disagreements"' not in ledger
    page = client.get(reverse("infusions:session", args=[session.pk])).content.decode()
    assert 'id="dose-ledger-disagrees"' not in page
    assert "(45.0 mg) agrees within rounding" in services.note_text(session)


def test_the_ledger_warning_says_when_a_prescriber_documented_the_difference(
    appointment, nurse, location
):
    """A documented exception (issue 21 point 6) covers the difference: still listed, marked."""
    session, _ = _session_with_administration(appointment, nurse, location, administered_ml="0.50")
    InfusionSession.objects.filter(pk=session.pk).update(state="recovering")
    session.refresh_from_db()
    prescriber = make_user("prescriber", location)
    services.session_cs_exception_record(
        actor=prescriber,
        session=session,
        reason="Pump history lost; the bag was weighed and the rest wasted with a witness.",
    )
    [found] = dose.ledger_disagreements(entries=list(session.cs_draws.all()))
    assert found.session == session
    assert found.covered
    assert timezone.now() >= session.infusion_ended_at
