"""The infusion session's dose given (pump running time × rate) set against the controlled-
substance log's administration of the session's draw (controlled-substances.md CS-31, CS-32,
CS-42, CS-43; monitoring: dose given from pump times). The administration defaults to the pump's
dose in mL of the vial's strength; a difference is named on the session page, the session note
and the session API answer.

The order (dosing STANDARD, 80 kg): 40 mg over 40 min at 1 mg/mL, i.e. 60 mL/h = 1 mg/min.
The vials: 50 mg/mL (§8's worked example)."""

import json
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.controlled import services as cs
from infusionclinic.controlled.models import EntryKind
from infusionclinic.controlled.tests.factories import product, receive
from infusionclinic.infusions import dose as doses
from infusionclinic.infusions import selectors, services
from infusionclinic.infusions.models import PumpEvent
from infusionclinic.infusions.services import session_cs_exception_record
from tests.factories import PASSWORD, api_client, dea_registration, logged_in_client, make_user

from .factories import (
    GOOD_ALDRETE,
    GOOD_PADSS,
    prechecked,
    session_for,
    shift_back,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lot(nurse, location):
    return receive(nurse, location, product()).lot  # 10.00 mL at 50 mg/mL


def _draw(nurse, lot, session, qty_ml="0.80"):
    return cs.draw_record(actor=nurse, lot=lot, order=session.order, qty_ml=qty_ml)


def _run(nurse, session, seconds, *, stop=True):
    """Start the pump and make it have run `seconds` (then stop it, unless told not to)."""
    services.pump_event_record(actor=nurse, session=session, action="start")
    start = PumpEvent.objects.get(session=session, action="start")
    PumpEvent.objects.filter(pk=start.pk).update(at=timezone.now() - timedelta(seconds=seconds))
    if stop:
        services.pump_event_record(
            actor=nurse, session=session, action="stop", stop_reason="patient_request"
        )
    session.refresh_from_db()
    return session


@pytest.fixture
def drawn(nurse, session, lot):
    """Pre-checks done, 0.80 mL (40 mg) drawn for the session: the open encounter (CS-42); the
    location's DEA registration on file (issue 21 point 6: the start needs both)."""
    dea_registration(session.location)
    prechecked(nurse, session, ready=False)
    return _draw(nurse, lot, session)


def test_cs42_draw_is_linked_to_the_open_session_it_was_drawn_for(nurse, session, drawn):
    assert drawn.session == session
    assert doses.session_draws(session) == [drawn]


def test_cs32_administration_defaults_to_pump_dose_in_ml_of_vial_strength(nurse, session, drawn):
    _run(nurse, session, 1218)  # 20.3 min at 1 mg/min
    assert selectors.dose_given_mg(session) == D("20.3")
    suggestion = doses.administration_suggestion(drawn)
    assert suggestion.exact_ml == D("0.406")  # 20.3 mg ÷ 50 mg/mL, exact
    assert suggestion.qty_ml == D("0.41")  # at the ledger's 0.01 mL, half-up
    entry = cs.administration_record(actor=nurse, draw=drawn)  # no quantity: the pump's
    assert (entry.kind, entry.qty_ml, entry.qty_mg) == (
        EntryKind.ADMINISTRATION,
        D("0.41"),
        D("20.5"),
    )
    event = AuditEvent.objects.filter(object_type="controlled.LedgerEntry").latest("pk")
    assert event.detail["pump_dose_mg"] == "20.3"
    assert event.detail["differs_from_pump"] is False
    # The ledger's rounding (0.2 mg here, under half a 0.01 mL step) is not a mismatch.
    cs.waste_record(
        actor=nurse,
        draw=drawn,
        qty_ml="0.39",
        reason="left in bag and line",
        witness_email=make_user("prescriber", session.location).email,
        witness_secret=PASSWORD,
    )
    check = doses.session_dose_check(session)
    assert (check.administered_mg, check.wasted_mg, check.open_mg) == (D("20.5"), D("19.5"), D(0))
    assert check.problems == []


def test_cs32_another_quantity_needs_a_reason_and_the_difference_is_named(nurse, session, drawn):
    _run(nurse, session, 1200)  # 20.0 mg
    with pytest.raises(ValidationError) as err:
        cs.administration_record(actor=nurse, draw=drawn, qty_ml="0.30")
    assert "reason" in err.value.message_dict
    assert "CS-32" in err.value.message_dict["reason"][0]
    cs.administration_record(
        actor=nurse, draw=drawn, qty_ml="0.30", reason="pump history lost, from the bag"
    )
    check = doses.session_dose_check(session)
    assert check.mismatch
    assert check.difference_mg == D("-5")
    rules = [p.rule_id for p in check.problems]
    assert rules == ["CS-32", "CS-43"]  # 15 mg vs the pump's 20 mg; 0.50 mL still open
    assert "records 15.0 mg administered but the pump gave 20.0 mg" in check.problems[0].message


def test_cs32_less_than_drawn_is_allowed_more_than_drawn_is_refused(nurse, session, lot):
    """CS-32 "may be less than drawn" (the rest is wasted, CS-33); more than the dose has left
    is a hard stop (CS-41, CS-43), even with a reason — the pump running longer than the drawn
    dose covers is a missing draw, named on the session (CS-31)."""
    dea_registration(session.location)
    prechecked(nurse, session, ready=False)
    drawn = _draw(nurse, lot, session, qty_ml="0.50")  # 25 mg
    _run(nurse, session, 1800)  # 30.0 mg by the pump
    with pytest.raises(ValidationError) as err:
        cs.administration_record(actor=nurse, draw=drawn, qty_ml="0.60", reason="pump says so")
    assert "Only 0.50 mL" in err.value.message_dict["qty_ml"][0]
    suggestion = doses.administration_suggestion(drawn)
    assert (suggestion.qty_ml, suggestion.capped) == (D("0.50"), True)
    cs.administration_record(actor=nurse, draw=drawn)  # the whole dose: no reason needed
    check = doses.session_dose_check(session)
    assert [p.rule_id for p in check.problems] == ["CS-31", "CS-32"]
    assert "a draw is missing" in check.problems[0].message


def test_cs32_while_infusing_only_what_is_certain_is_named(nurse, session, drawn):
    _run(nurse, session, 600, stop=False)  # 10 mg so far, still running
    check = doses.session_dose_check(session)
    assert not check.infusion_over
    assert check.problems == []  # the open dose is not yet a CS-43 problem
    # The pump's figure is not final yet: no reason is asked, but the excess is named.
    cs.administration_record(actor=nurse, draw=drawn, qty_ml="0.40")
    check = doses.session_dose_check(session)
    assert [p.rule_id for p in check.problems] == ["CS-32"]  # 20 mg logged, pump gave ~10
    assert "more than the pump's dose given" in check.problems[0].message


def test_cs32_tolerance_setting_widens_what_counts_as_a_match(nurse, session, drawn, settings):
    _run(nurse, session, 1200)  # 20.0 mg
    cs.administration_record(actor=nurse, draw=drawn, qty_ml="0.36", reason="dead space")
    cs.waste_record(
        actor=nurse,
        draw=drawn,
        qty_ml="0.44",
        reason="left in bag and line",
        witness_email=make_user("prescriber", session.location).email,
        witness_secret=PASSWORD,
    )
    assert [p.rule_id for p in doses.session_dose_check(session).problems] == ["CS-32"]
    settings.CONTROLLED_ADMINISTRATION_TOLERANCE_MG = "2"
    assert doses.session_dose_check(session).problems == []


def test_cs42_pump_without_a_linked_draw_is_named(nurse, session):
    """Issue 21 point 6 refuses the start without a draw; a session that ran without one (from
    before that gate) is still named CS-42."""
    dea_registration(session.location)
    prechecked(nurse, session, ready=False)
    with pytest.raises(ValidationError) as err:
        services.pump_event_record(actor=nurse, session=session, action="start")
    assert "CS-31, CS-42" in err.value.message_dict["state"][0]
    start = timezone.now() - timedelta(minutes=10)
    PumpEvent.objects.create(session=session, action="start", at=start, actor=nurse)
    PumpEvent.objects.create(session=session, action="stop", at=timezone.now(), actor=nurse)
    type(session).objects.filter(pk=session.pk).update(
        state="recovering", infusion_ended_at=timezone.now()
    )
    session.refresh_from_db()
    [problem] = doses.session_dose_check(session).problems
    assert problem.rule_id == "CS-42"


def _discharge(nurse, session):
    services.discharge_score_record(
        actor=nurse, session=session, aldrete=GOOD_ALDRETE, padss=GOOD_PADSS
    )
    shift_back(session, 61)
    return services.session_discharge(actor=nurse, session=session, escort_name="Alex Escort")


def test_mismatch_is_shown_on_session_page_note_and_api(nurse, session, drawn, location):
    _run(nurse, session, 1200)  # 20.0 mg
    cs.administration_record(actor=nurse, draw=drawn, qty_ml="0.30", reason="from the bag")
    page = logged_in_client(nurse).get(reverse("infusions:session", args=[session.pk]))
    html = page.content.decode()
    assert 'class="cs-mismatch"' in html
    assert "CS-32 mismatch:" in html
    assert "15.0 mg administered but the pump gave 20.0 mg (difference 5.0 mg)" in html
    data = api_client(nurse).get(f"/api/v1/sessions/{session.pk}").json()
    block = data["controlled"]
    assert block["mismatch"] is True
    assert [p["rule_id"] for p in block["problems"]] == ["CS-32", "CS-43"]
    assert (D(block["pump_dose_mg"]), D(block["administered_mg"])) == (D("20.0"), D("15"))
    assert block["draws"][0]["draw_id"] == drawn.pk
    assert D(block["draws"][0]["open_ml"]) == D("0.50")
    # Issue 21 point 6: the differences hold the discharge until a prescriber's exception.
    reason = "Pump history lost; dose read from the bag; the rest spilled, not recoverable."
    session_cs_exception_record(
        actor=make_user("prescriber", location), session=session, reason=reason
    )
    _discharge(nurse, session)
    note = services.note_generate(actor=nurse, session=session)
    assert "Controlled-substance log (CS-32, CS-43):" in note.body
    assert "MISMATCH CS-32: The controlled-substance log records 15.0 mg" in note.body
    assert "MISMATCH CS-43: Draw #" in note.body


def test_matching_session_note_names_no_mismatch(nurse, session, drawn):
    _run(nurse, session, 2400)  # the full 40 mg = the 0.80 mL drawn
    cs.administration_record(actor=nurse, draw=drawn)
    _discharge(nurse, session)
    body = services.note_generate(actor=nurse, session=session).body
    assert "administered 0.80 mL (40 mg)" in body
    assert "MISMATCH" not in body
    html = logged_in_client(nurse).get(reverse("infusions:session", args=[session.pk]))
    assert "cs-mismatch" not in html.content.decode()


def test_api_records_the_administration_defaulting_to_the_pump(nurse, session, drawn):
    _run(nurse, session, 1218)  # 20.3 mg → 0.41 mL
    client = api_client(nurse)
    url = f"/api/v1/sessions/{session.pk}/administrations"
    before = client.get(f"/api/v1/sessions/{session.pk}").json()
    assert D(before["controlled"]["draws"][0]["suggested_administration_ml"]) == D("0.41")
    refused = client.post(
        url, json.dumps({"draw_id": drawn.pk, "qty_ml": "0.20"}), content_type="application/json"
    )
    assert refused.status_code == 422
    response = client.post(url, json.dumps({"draw_id": drawn.pk}), content_type="application/json")
    assert response.status_code == 201, response.content
    assert D(response.json()["controlled"]["administered_mg"]) == D("20.5")
    assert drawn.dose_entries.get().qty_ml == D("0.41")


def test_api_administration_of_another_sessions_draw_is_404(
    nurse, prescriber, session, drawn, patient, order, location
):
    other = session_for(nurse, patient, order, location)
    response = api_client(nurse).post(
        f"/api/v1/sessions/{other.pk}/administrations",
        json.dumps({"draw_id": drawn.pk}),
        content_type="application/json",
    )
    assert response.status_code == 404
    assert AuditEvent.objects.filter(
        action=AuditAction.DENIED, detail__object_type="controlled.LedgerEntry"
    ).exists()


def test_administer_form_preselects_the_draw_and_the_pump_dose(nurse, session, drawn, location):
    _run(nurse, session, 1218)
    client = logged_in_client(nurse)
    url = reverse("controlled:administer", kwargs={"location_code": location.code})
    html = client.get(f"{url}?draw={drawn.pk}").content.decode()
    assert 'value="0.41"' in html
    assert "Pump&#x27;s dose given: 20.3 mg = 0.406 mL at 50 mg/mL" in html
    refused = client.post(url, {"draw": drawn.pk, "qty_ml": "0.20"})
    assert "CS-32" in refused.content.decode()  # another quantity needs a reason
    client.post(url, {"draw": drawn.pk, "qty_ml": "0.20", "reason": "line disconnected"})
    entry = drawn.dose_entries.get()
    assert (entry.qty_ml, entry.reason) == (D("0.20"), "line disconnected")
