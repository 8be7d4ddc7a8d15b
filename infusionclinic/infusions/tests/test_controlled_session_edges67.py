"""Issue 21 point 6: the controlled-substance log is part of the infusion session
(controlled-substances.md CS-4, CS-31, CS-32, CS-33, CS-42, CS-43, CS-44).

The order (dosing STANDARD, 80 kg): 40 mg over 40 min at 1 mg/mL = 1 mg/min; the lot: 50 mg/mL
(§8), so the order's 40 mg is 0.80 mL."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.controlled import services as cs
from infusionclinic.controlled.models import EntryKind, LedgerEntry
from infusionclinic.infusions import services
from infusionclinic.infusions.models import PumpEvent, SessionState
from infusionclinic.infusions.services import session_cs_exception_record
from tests.factories import (
    PASSWORD,
    dea_registration,
    logged_in_client,
    make_user,
    session_lot,
)

from .factories import GOOD_ALDRETE, GOOD_PADSS, prechecked, shift_back

pytestmark = pytest.mark.django_db


def _act(client, session, action, data=None):
    return client.post(f"/infusions/sessions/{session.pk}/{action}/", data or {})


def _page(client, session) -> str:
    return client.get(f"/infusions/sessions/{session.pk}/").content.decode()


def _ran(nurse, session, seconds):
    """Start the pump, make it have run `seconds`, stop it."""
    services.pump_event_record(actor=nurse, session=session, action="start")
    start = PumpEvent.objects.get(session=session, action="start")
    PumpEvent.objects.filter(pk=start.pk).update(at=timezone.now() - timedelta(seconds=seconds))
    services.pump_event_record(
        actor=nurse, session=session, action="stop", stop_reason="patient_request"
    )
    session.refresh_from_db()
    return session


def _scored(nurse, session):
    services.discharge_score_record(
        actor=nurse, session=session, aldrete=GOOD_ALDRETE, padss=GOOD_PADSS
    )
    shift_back(session, 61)  # MON-T5 over


def _discharge(nurse, session):
    return services.session_discharge(actor=nurse, session=session, escort_name="Alex Escort")


def test_start_refused_without_the_locations_dea_registration_cs4_issue21_point6(nurse, session):
    prechecked(nurse, session, ready=False)
    lot = session_lot(nurse, session.location)
    draw = cs.draw_record(actor=nurse, lot=lot, order=session.order, qty_ml="0.80")
    client = logged_in_client(nurse)
    refused = _act(client, session, "pump", {"action": "start"})
    assert refused.status_code == 422
    html = refused.content.decode()
    assert "CS-4: No DEA registration on file for this location" in html
    # Nothing lost: still before the start, no pump event, the draw and pre-checks kept.
    session.refresh_from_db()
    assert session.state == SessionState.PRE_CHECKS
    assert not PumpEvent.objects.filter(session=session).exists()
    assert LedgerEntry.objects.filter(pk=draw.pk, session=session).exists()
    assert session.precheck is not None
    dea_registration(session.location)
    assert _act(client, session, "pump", {"action": "start"}).status_code == 302
    session.refresh_from_db()
    assert session.state == SessionState.INFUSING


def test_start_refused_with_an_expired_dea_registration_cs4_issue21_point6(nurse, session):
    registration = dea_registration(session.location)
    type(registration).objects.filter(pk=registration.pk).update(
        expires_on=timezone.localdate(timezone=session.location.tzinfo) - timedelta(days=1)
    )
    prechecked(nurse, session, ready=False)
    lot = session_lot(nurse, session.location)
    cs.draw_record(actor=nurse, lot=lot, order=session.order, qty_ml="0.80")  # drawn, but expired
    with pytest.raises(ValidationError) as err:
        services.pump_event_record(actor=nurse, session=session, action="start")
    assert "expired" in err.value.message_dict["state"][0]


def test_start_refused_without_a_draw_for_this_session_cs31_cs42_issue21_point6(nurse, session):
    dea_registration(session.location)
    prechecked(nurse, session, ready=False)
    client = logged_in_client(nurse)
    page = _page(client, session)
    assert 'id="cs-start-problems"' in page
    assert "no controlled-substance draw is linked to this session" in page
    refused = _act(client, session, "pump", {"action": "start"})
    assert refused.status_code == 422
    assert "CS-31, CS-42: no controlled-substance draw is linked" in refused.content.decode()
    session.refresh_from_db()
    assert session.state == SessionState.PRE_CHECKS
    assert not PumpEvent.objects.filter(session=session).exists()


def test_session_page_draw_form_draws_from_a_lot_and_links_the_draw_cs31_issue21_point6(
    nurse, session
):
    dea_registration(session.location)
    prechecked(nurse, session, ready=False)
    lot = session_lot(nurse, session.location)
    client = logged_in_client(nurse)
    page = _page(client, session)
    assert 'id="cs-draw-form"' in page
    # The lot's strength and the order's dose in mL of it are on the choice (the mg shown).
    assert f"Lot {lot.lot_number}" in page
    assert "50 mg/mL" in page
    assert "the order&#x27;s dose = 0.80 mL" in page
    response = _act(client, session, "cs-draw", {"lot": lot.pk, "qty_ml": "0.80"})
    assert response.status_code == 302
    draw = LedgerEntry.objects.get(kind=EntryKind.DRAW, session=session)
    assert (draw.qty_ml, draw.qty_mg, draw.lot, draw.order) == (
        D("0.80"),
        D("40"),
        lot,
        session.order,
    )
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="controlled.LedgerEntry", object_id=str(draw.pk)
    ).exists()
    page = _page(client, session)
    assert "0.80 mL = 40 mg" in page
    assert 'id="cs-start-problems"' not in page
    assert _act(client, session, "pump", {"action": "start"}).status_code == 302


def test_session_draw_form_refuses_another_locations_lot_cs4(nurse, session, other_location):
    dea_registration(session.location)
    prechecked(nurse, session, ready=False)
    other_nurse = make_user("nurse", other_location)
    other_lot = session_lot(other_nurse, other_location)
    response = _act(
        logged_in_client(nurse), session, "cs-draw", {"lot": other_lot.pk, "qty_ml": "1"}
    )
    assert response.status_code == 404
    assert not LedgerEntry.objects.filter(kind=EntryKind.DRAW).exists()


def test_administration_on_the_session_page_defaults_to_the_pump_cs32_issue21_point6(
    nurse, session
):
    prechecked(nurse, session)
    _ran(nurse, session, 1218)  # 20.3 mg = 0.406 mL → 0.41 mL
    client = logged_in_client(nurse)
    page = _page(client, session)
    assert 'value="0.41"' in page
    assert "From the pump: 20.3 mg given" in page
    draw = session.cs_draws.get()
    assert _act(client, session, "cs-administer", {"draw_id": draw.pk}).status_code == 302
    entry = draw.dose_entries.get()
    assert (entry.kind, entry.qty_ml) == (EntryKind.ADMINISTRATION, D("0.41"))


def test_discharge_refused_until_the_witnessed_waste_is_recorded_cs33_cs43_issue21_point6(
    nurse, prescriber, session
):
    prechecked(nurse, session)
    _ran(nurse, session, 1218)
    draw = session.cs_draws.get()
    cs.administration_record(actor=nurse, draw=draw)  # 0.41 mL from the pump
    _scored(nurse, session)
    with pytest.raises(ValidationError) as err:
        _discharge(nurse, session)
    assert any(p.startswith("CS-43: Draw #") for p in err.value.messages)
    client = logged_in_client(nurse)
    page = _page(client, session)
    assert "Witnessed waste of draw" in page
    waste = {"draw_id": draw.pk, "qty_ml": "0.39", "reason": "Left in bag and line"}
    # CS-44: the witness is another person, and re-authenticates.
    self_witness = _act(
        client,
        session,
        "cs-waste",
        {**waste, "witness_email": nurse.email, "witness_secret": PASSWORD},
    )
    assert self_witness.status_code == 422
    assert "another person" in self_witness.content.decode()
    wrong = _act(
        client,
        session,
        "cs-waste",
        {**waste, "witness_email": prescriber.email, "witness_secret": "not-it"},
    )
    assert wrong.status_code == 422
    assert not draw.dose_entries.filter(kind=EntryKind.WASTE).exists()
    done = _act(
        client,
        session,
        "cs-waste",
        {**waste, "witness_email": prescriber.email, "witness_secret": PASSWORD},
    )
    assert done.status_code == 302
    assert draw.dose_entries.get(kind=EntryKind.WASTE).witness == prescriber
    assert services.discharge_problems(session) == []
    assert _discharge(nurse, session).state == SessionState.DISCHARGED


def _with_difference(nurse, session):
    """Administered 0.30 mL (15 mg) against the pump's 20 mg, the rest wasted: CS-32 stays."""
    prechecked(nurse, session)
    _ran(nurse, session, 1200)
    draw = session.cs_draws.get()
    cs.administration_record(actor=nurse, draw=draw, qty_ml="0.30", reason="read from the bag")
    cs.waste_record(
        actor=nurse,
        draw=draw,
        qty_ml="0.50",
        reason="left in bag",
        witness_email=make_user("prescriber", session.location).email,
        witness_secret=PASSWORD,
    )
    _scored(nurse, session)


def test_a_ledger_difference_refuses_discharge_and_the_note_signature_cs32_issue21_point6(
    nurse, prescriber, session
):
    _with_difference(nurse, session)
    with pytest.raises(ValidationError) as err:
        _discharge(nurse, session)
    assert any(p.startswith("CS-32: ") for p in err.value.messages)
    # A session discharged with the difference (before this rule): its note is not signed.
    type(session).objects.filter(pk=session.pk).update(
        state=SessionState.DISCHARGED, discharged_at=timezone.now()
    )
    note = services.note_generate(actor=nurse, session=session)
    assert "MISMATCH CS-32" in note.body
    with pytest.raises(ValidationError) as err:
        services.note_sign(actor=nurse, note=note)
    assert any("CS-32" in m for m in err.value.message_dict["note"])
    note.refresh_from_db()
    assert note.nurse_signed_at is None
    response = _act(logged_in_client(prescriber), session, "note-sign")
    assert response.status_code == 422
    assert "the note is not signed until it is resolved" in response.content.decode()
    # The prescriber's exception is written into the unsigned note, which may then be signed.
    reason = "Pump history lost; the dose was read from the bag, the rest wasted."
    session_cs_exception_record(actor=prescriber, session=session, reason=reason)
    note.refresh_from_db()
    assert reason in note.body
    services.note_sign(actor=nurse, note=note)
    assert services.note_sign(actor=prescriber, note=note).locked


def test_a_prescribers_documented_exception_lets_it_pass_and_is_in_the_note_issue21_point6(
    nurse, prescriber, session
):
    _with_difference(nurse, session)
    with pytest.raises(PermissionDenied):
        session_cs_exception_record(actor=nurse, session=session, reason="Nurse cannot do this.")
    client = logged_in_client(prescriber)
    page = _page(client, session)
    assert "Record documented exception" in page
    short = _act(client, session, "cs-exception", {"reason": "ok"})
    assert short.status_code == 422
    reason = "Pump history lost at the stop; dose read from the bag remaining volume."
    assert _act(client, session, "cs-exception", {"reason": reason}).status_code == 302
    exception = session.cs_exceptions.get()
    assert exception.recorded_by == prescriber
    assert [rule for rule, _ in exception.problems] == ["CS-32"]
    event = AuditEvent.objects.get(object_type="infusions.ControlledException")
    assert (event.action, event.actor, event.detail["rule_ids"], event.detail["reason"]) == (
        AuditAction.CREATE,
        prescriber,
        ["CS-32"],
        reason,
    )
    assert _discharge(nurse, session).state == SessionState.DISCHARGED
    note = services.note_generate(actor=nurse, session=session)
    assert f"DOCUMENTED EXCEPTION by {prescriber}" in note.body
    assert reason in note.body
    assert "covers CS-32: The controlled-substance log records 15.0 mg" in note.body
    services.note_sign(actor=nurse, note=note)
    assert services.note_sign(actor=prescriber, note=note).locked
    assert reason in _page(logged_in_client(nurse), session)


def test_an_exception_covers_only_the_differences_it_named_issue21_point6(
    nurse, prescriber, session
):
    """The exception keeps the differences it was recorded for; a difference it did not name
    (here: its stored wording no longer matches the log's) holds the discharge again."""
    _with_difference(nurse, session)
    exception = session_cs_exception_record(
        actor=prescriber, session=session, reason="Pump history lost; dose from the bag."
    )
    assert services.discharge_problems(session) == []
    type(exception).objects.filter(pk=exception.pk).update(
        problems=[["CS-32", "another difference than the one the log shows"]]
    )
    assert any(p.startswith("CS-32: ") for p in services.discharge_problems(session))
