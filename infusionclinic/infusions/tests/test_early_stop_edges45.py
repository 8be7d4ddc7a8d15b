"""Issue 21 point 5: an infusion stopped before the ordered time is documented. The stop asks for
a reason (data/early_stop_reasons.json), stored on the stop's PumpEvent; the note says the
infusion ended early, why, and "dose given X mg of Y mg ordered"; the session page, the API's
session detail and the progress report (reports.selectors.progress_report) show the dose given
beside the dose ordered."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from pypdf import PdfReader

from infusionclinic.audit.models import AuditEvent
from infusionclinic.infusions import selectors, services
from infusionclinic.infusions.models import PumpEvent, SessionState
from infusionclinic.reports.selectors import progress_report
from tests.factories import api_client, logged_in_client

from .factories import infusing


def _ran(session, minutes):
    """As if the pump had been running `minutes` (the start moved back)."""
    start = session.pump.get(action="start")
    PumpEvent.objects.filter(pk=start.pk).update(at=start.at - timedelta(minutes=minutes))


def _stop(nurse, session, **kw):
    return services.pump_event_record(actor=nurse, session=session, action="stop", **kw)


def test_stop_before_the_ordered_time_without_a_reason_is_refused(nurse, session):
    """Issue 21 point 5: no early stop without its reason; the pump keeps its state."""
    infusing(nurse, session)
    _ran(session, 12)
    with pytest.raises(ValidationError) as err:
        _stop(nurse, session)
    message = err.value.message_dict["stop_reason"][0]
    assert f"ran 12 of the ordered {session.order.duration_min} min" in message
    with pytest.raises(ValidationError) as err:
        _stop(nurse, session, stop_reason="other")  # "other" needs the words
    assert "reason" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        _stop(nurse, session, stop_reason="bored")
    assert "stop_reason" in err.value.message_dict
    session.refresh_from_db()
    assert session.state == SessionState.INFUSING


def test_early_stop_reason_is_stored_and_the_note_says_ended_early_with_dose_of_ordered(
    nurse, session
):
    """Issue 21 point 5: stored on the stop PumpEvent (audited); the note names it and the dose
    given against the dose ordered."""
    infusing(nurse, session)
    _ran(session, 12)
    event = _stop(nurse, session, stop_reason="adverse_effect", reason="Nausea, vomited twice")
    assert (event.ended_early, event.stop_reason) == (True, "adverse_effect")
    assert AuditEvent.objects.filter(
        detail__event="pump_stop", detail__ended_early=True, detail__stop_reason="adverse_effect"
    ).exists()
    session.refresh_from_db()
    given = selectors.dose_given_mg(session)
    ordered = session.order.dose_mg
    assert 0 < given < ordered
    note = services.note_text(session)
    assert (
        f"Infusion ended early: the pump ran 12.0 of the ordered {session.order.duration_min} "
        "min; reason: Adverse effect (side effect or warning sign) — Nausea, vomited twice."
    ) in note
    assert f"Dose given {given} mg of {ordered} mg ordered." in note


def test_a_stop_at_the_ordered_time_needs_no_reason_and_is_not_early(nurse, session):
    infusing(nurse, session)
    _ran(session, session.order.duration_min)
    event = _stop(nurse, session)
    assert event.ended_early is False
    session.refresh_from_db()
    note = services.note_text(session)
    assert "ended early" not in note
    assert f"mg of {session.order.dose_mg} mg ordered." in note


def test_session_page_asks_for_the_reason_and_shows_the_early_end(nurse, session):
    """Issue 21 point 5 on the page: the stop form has the reasons; a missing one is a form
    error; afterwards the page says the infusion ended early, with dose given of ordered."""
    infusing(nurse, session)
    _ran(session, 12)
    client = logged_in_client(nurse)
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Stopped early because" in page
    assert '<option value="iv_problem">' in page
    url = f"/infusions/sessions/{session.pk}/pump/"
    refused = client.post(url, {"action": "stop"})
    assert refused.status_code == 422
    assert "give the reason for stopping early" in refused.content.decode()
    r = client.post(url, {"action": "stop", "stop_reason": "iv_problem", "reason": "Infiltrated"})
    assert r.status_code == 302
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Infusion ended early" in page
    assert "IV access problem" in page
    assert f"of {session.order.dose_mg} mg ordered" in page


def test_api_stop_needs_the_reason_and_session_detail_shows_dose_given_and_ordered(nurse, session):
    """Issue 21 point 5 in the API: 422 without the reason; the session detail carries the dose
    ordered beside the dose given and the early stop."""
    infusing(nurse, session)
    _ran(session, 12)
    api = api_client(nurse)
    url = f"/api/v1/sessions/{session.pk}/pump"
    refused = api.post(url, {"action": "stop"}, content_type="application/json")
    assert refused.status_code == 422
    assert "stop_reason" in refused.json()["errors"]
    ok = api.post(
        url,
        {"action": "stop", "stop_reason": "patient_request"},
        content_type="application/json",
    )
    assert ok.status_code == 200
    body = ok.json()
    assert body["dose_ordered_mg"] == float(session.order.dose_mg)
    assert 0 < body["dose_given_mg"] < body["dose_ordered_mg"]
    assert body["early_stop"]["reason"] == "patient_request"
    assert body["early_stop"]["ordered_min"] == session.order.duration_min


def test_progress_report_shows_dose_given_beside_dose_ordered_per_session(
    nurse, prescriber, session, patient
):
    """Issue 21 point 5: reports.selectors.progress_report lists each infusion with both numbers
    and the early stop's reason; the page and the PDF show them."""
    infusing(nurse, session)
    _ran(session, 12)
    _stop(nurse, session, stop_reason="blood_pressure")
    session.refresh_from_db()
    given = selectors.dose_given_mg(session)
    report = progress_report(patient=patient)
    [row] = report.sessions
    assert (row.session_id, row.dose_given_mg, row.dose_ordered_mg) == (
        session.pk,
        given,
        session.order.dose_mg,
    )
    assert row.early.code == "blood_pressure"
    client = logged_in_client(prescriber)
    html = client.get(f"/patients/{patient.pk}/report/").content.decode()
    assert "Infusions: dose given and dose ordered" in html
    assert f"<td>{given} mg</td><td>{session.order.dose_mg} mg</td>" in html
    assert "early — Blood pressure" in html
    pdf = client.get(f"/patients/{patient.pk}/report.pdf")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert f"dose given {given} mg of {session.order.dose_mg} mg ordered" in " ".join(text.split())


def test_a_session_still_running_reports_the_dose_so_far(nurse, session, patient):
    infusing(nurse, session)
    _ran(session, 5)
    [row] = progress_report(patient=patient).sessions
    assert row.early is None
    assert row.dose_given_mg < row.dose_ordered_mg
    assert row.started_at <= timezone.now()
