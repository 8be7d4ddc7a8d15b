"""Pages: the day board (htmx-polled partial), the session page's actions, and 404 for another
location's staff and another patient."""

from datetime import timedelta

import pytest
from django.utils import timezone

from infusionclinic.infusions.models import SessionState
from infusionclinic.scheduling.models import Appointment, Chair
from tests.factories import (
    PASSWORD,
    PatientFactory,
    dea_registration,
    logged_in_client,
    make_user,
    session_lot,
)

from .factories import GOOD_ALDRETE, GOOD_PADSS, NORMAL, questionnaires_done, shift_back


def _act(client, session, action, data=None):
    return client.post(f"/infusions/sessions/{session.pk}/{action}/", data or {})


def test_board_shows_session_and_polls_partial(nurse, session, location):
    client = logged_in_client(nurse)
    page = client.get(f"/infusions/board/{location.code}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'hx-get="/infusions/board/{location.code}/partial/"' in html
    assert 'hx-trigger="every 15s"' in html
    partial = client.get(f"/infusions/board/{location.code}/partial/")
    assert partial.status_code == 200
    assert session.patient.family_name in partial.content.decode()
    assert "<html" not in partial.content.decode()


def test_board_opens_a_session_from_a_booked_infusion(nurse, patient, order, location):
    chair = Chair.objects.create(location=location, name="Chair 1")
    start = timezone.now().replace(second=0, microsecond=0)
    appointment = Appointment.objects.create(
        patient=patient,
        location=location,
        chair=chair,
        kind="infusion",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )
    client = logged_in_client(nurse)
    assert "Open session" in client.get(f"/infusions/board/{location.code}/").content.decode()
    r = client.post(f"/infusions/board/{location.code}/appointments/{appointment.pk}/open/")
    assert r.status_code == 302
    assert appointment.session.order == order


def test_board_other_location_is_404(nurse, other_location):
    assert (
        logged_in_client(nurse).get(f"/infusions/board/{other_location.code}/").status_code == 404
    )


def test_page_flow_check_in_to_discharge_with_alert_acknowledged(nurse, prescriber, session):
    client = logged_in_client(nurse)
    assert _act(client, session, "check-in", {"identity_confirmed": "on"}).status_code == 422
    r = _act(
        client,
        session,
        "check-in",
        {"identity_confirmed": "on", "escort_name": "Sam", "escort_phone": "555 010 0100"},
    )
    assert r.status_code == 302
    assert _act(client, session, "vitals", NORMAL).status_code == 302
    pre = {"fasting_confirmed": "on", "pregnancy_test": "negative", "weight_kg": "80"}
    # PROT-14: the page reads the visit's questionnaires from outcomes and names the missing one.
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Missing: PHQ-9" in page
    refused = _act(client, session, "pre-checks", pre)
    assert refused.status_code == 422
    assert "PROT-14" in refused.content.decode()
    questionnaires_done(nurse, session)
    assert "PHQ-9 submitted" in client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert _act(client, session, "pre-checks", pre).status_code == 302
    # Issue 21 point 6: the DEA registration and a draw from a lot (the page's form) first.
    dea_registration(session.location)
    lot = session_lot(nurse, session.location)
    assert _act(client, session, "cs-draw", {"lot": lot.pk, "qty_ml": "0.80"}).status_code == 302
    assert _act(client, session, "pump", {"action": "start"}).status_code == 302
    _act(client, session, "vitals", {**NORMAL, "heart_rate_bpm": 155})
    alert = session.alerts.get()
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "MON-HR-1" in page
    r = _act(client, session, "acknowledge", {"alert_id": alert.pk, "note": "settled"})
    assert r.status_code == 302
    assert _act(client, session, "pump", {"action": "stop"}).status_code == 302
    score = {f"aldrete_{k}": v for k, v in GOOD_ALDRETE.items()}
    score |= {f"padss_{k}": v for k, v in GOOD_PADSS.items()}
    assert _act(client, session, "score", score).status_code == 302
    waste = {
        "draw_id": session.cs_draws.get().pk,
        "qty_ml": "0.80",
        "reason": "Not given; discarded",
        "witness_email": prescriber.email,
        "witness_secret": PASSWORD,
    }
    assert _act(client, session, "cs-waste", waste).status_code == 302
    refused = _act(client, session, "discharge", {"escort_name": "Sam"})
    assert refused.status_code == 422
    assert "MON-T5" in refused.content.decode()
    session.refresh_from_db()
    shift_back(session, 61)
    assert _act(client, session, "discharge", {"escort_name": "Sam"}).status_code == 302
    session.refresh_from_db()
    assert session.state == SessionState.DISCHARGED
    sheet = client.get(f"/infusions/sessions/{session.pk}/discharge-sheet/")
    assert "machinery" in sheet.content.decode()
    assert _act(client, session, "note-generate").status_code == 302
    assert _act(client, session, "note-sign").status_code == 302
    assert _act(logged_in_client(prescriber), session, "note-sign").status_code == 302
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Locked." in page


@pytest.mark.parametrize("who", ["other_location_nurse", "patient_user", "other_patient_user"])
def test_session_pages_answer_404_to_others(who, session, other_location, location):
    user = {
        "other_location_nurse": lambda: make_user("nurse", other_location),
        "patient_user": lambda: session.patient.user,
        "other_patient_user": lambda: make_user(
            "patient", patient=PatientFactory(home_location=location)
        ),
    }[who]()
    client = logged_in_client(user)
    assert client.get(f"/infusions/sessions/{session.pk}/").status_code == 404
    assert client.get(f"/infusions/sessions/{session.pk}/discharge-sheet/").status_code == 404
    assert _act(client, session, "check-in", {"identity_confirmed": "on"}).status_code == 404
    session.refresh_from_db()
    assert session.state == SessionState.SCHEDULED
