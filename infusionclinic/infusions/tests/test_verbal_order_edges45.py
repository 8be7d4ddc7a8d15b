"""Issue 21 point 4: after a blood-pressure pause (MON-BP-3: "during the infusion SBP >= 180 or
DBP >= 110: pause the pump, recheck in 5 min, notify the prescriber; resume only on the
prescriber's order") the session page explains the rule, offers Resume only to whom it applies,
and lets the nurse record the prescriber's verbal or telephone order (read back), which lets the
nurse resume once and which the prescriber later co-signs."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.infusions import services
from infusionclinic.infusions.models import SessionState, VerbalOrder
from tests.factories import PASSWORD, logged_in_client, make_user

from .factories import infusing, vitals

RESUME_BUTTON = 'name="action" value="resume"'


def _act(client, session, action, data=None):
    return client.post(f"/infusions/sessions/{session.pk}/{action}/", data or {})


def _paused_for_bp(nurse, session):
    """MON-BP-3: a 185/115 reading during the infusion, acknowledged, pump paused."""
    infusing(nurse, session)
    vital = vitals(nurse, session, systolic_mmhg=185, diastolic_mmhg=115)
    assert "MON-BP-3" in [a.rule_id for a in vital.alerts.all()]
    for alert in vital.alerts.all():
        services.alert_acknowledge(actor=nurse, alert=alert, note="prescriber notified")
    services.pump_event_record(actor=nurse, session=session, action="pause", reason="MON-BP-3")
    session.refresh_from_db()
    return vital


def _verbal(nurse, session, prescriber, **extra):
    return services.verbal_order_record(
        actor=nurse,
        session=session,
        prescriber=prescriber,
        kind="telephone",
        read_back=True,
        **extra,
    )


def test_mon_bp3_pause_page_explains_the_rule_and_offers_resume_only_to_the_prescriber(
    nurse, prescriber, session
):
    """Issue 21 point 4, MON-BP-3: the nurse reads the rule and the way forward, no Resume."""
    _paused_for_bp(nurse, session)
    page = logged_in_client(nurse).get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Paused for blood pressure (MON-BP-3)" in page
    assert "185/115 mmHg" in page
    assert "180 mmHg or more" in page
    assert "110 or more" in page
    assert "recheck the pressure in 5 minutes and notify the prescriber" in page
    assert "only on the prescriber's order" in page
    assert RESUME_BUTTON not in page
    assert "Record order to resume" in page
    assert f'<option value="{prescriber.pk}">' in page
    prescriber_page = logged_in_client(prescriber).get(f"/infusions/sessions/{session.pk}/")
    assert RESUME_BUTTON in prescriber_page.content.decode()


def test_nurse_resume_without_a_prescriber_order_is_refused_with_the_rule_not_a_bare_403(
    nurse, session
):
    """Issue 21 point 4, MON-BP-3: the refusal is the page with a clear message."""
    _paused_for_bp(nurse, session)
    r = _act(logged_in_client(nurse), session, "pump", {"action": "resume"})
    assert r.status_code == 422
    body = r.content.decode()
    assert "MON-BP-3: after a blood-pressure pause the pump resumes only on the prescriber" in body
    assert "Record order to resume" in body
    session.refresh_from_db()
    assert session.state == SessionState.PAUSED


def test_nurse_records_a_telephone_order_read_back_and_then_resumes(nurse, prescriber, session):
    """Issue 21 point 4, MON-BP-3: who, when, read back; then the nurse's resume works, once."""
    vital = _paused_for_bp(nurse, session)
    client = logged_in_client(nurse)
    given = timezone.now().astimezone(session.location.tzinfo)
    r = _act(
        client,
        session,
        "verbal-order",
        {
            "prescriber": prescriber.pk,
            "kind": "telephone",
            "given_at": given.strftime("%Y-%m-%dT%H:%M"),
            "instruction": "Resume at the ordered rate; recheck BP in 5 min",
            "read_back": "on",
        },
    )
    assert r.status_code == 302
    order = VerbalOrder.objects.get(session=session)
    assert (order.prescriber, order.kind, order.read_back) == (prescriber, "telephone", True)
    assert order.alert.vital == vital
    # The typed local time (location's zone, to the minute) is stored as that instant.
    assert order.given_at == given.replace(second=0, microsecond=0)
    assert AuditEvent.objects.filter(detail__event="verbal_order_record").exists()
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Order to resume: telephone order of" in page
    assert RESUME_BUTTON in page
    assert _act(client, session, "pump", {"action": "resume"}).status_code == 302
    session.refresh_from_db()
    assert session.state == SessionState.INFUSING
    order.refresh_from_db()
    assert order.resume_event.actor == nurse
    # A new MON-BP-3 pause needs a new order: the first one was used.
    _again = vitals(nurse, session, systolic_mmhg=184, diastolic_mmhg=112)
    for alert in _again.alerts.all():
        services.alert_acknowledge(actor=nurse, alert=alert)
    services.pump_event_record(actor=nurse, session=session, action="pause")
    with pytest.raises(ValidationError, match="MON-BP-3"):
        services.pump_event_record(actor=nurse, session=session, action="resume")


def test_verbal_order_needs_read_back_a_prescriber_of_the_location_and_a_past_time(
    nurse, prescriber, session, other_location
):
    """Issue 21 point 4: read back confirmed, a prescriber of this location, not in the future."""
    _paused_for_bp(nurse, session)
    with pytest.raises(ValidationError) as err:
        services.verbal_order_record(
            actor=nurse,
            session=session,
            prescriber=make_user("prescriber", other_location),
            kind="verbal",
            read_back=False,
            given_at=timezone.now() + timedelta(minutes=10),
        )
    assert set(err.value.message_dict) == {"prescriber", "read_back", "given_at"}
    assert not VerbalOrder.objects.exists()


def test_verbal_order_is_refused_when_no_mon_bp3_pause_needs_one(nurse, prescriber, session):
    infusing(nurse, session)
    services.pump_event_record(actor=nurse, session=session, action="pause", reason="IV check")
    with pytest.raises(ValidationError, match="No MON-BP-3 pause"):
        _verbal(nurse, session, prescriber)
    services.pump_event_record(actor=nurse, session=session, action="resume")


def test_prescriber_cosigns_from_home_with_password_and_note_shows_the_state(
    nurse, prescriber, session
):
    """Issue 21 point 4: the order waits on the prescriber's home; co-signing re-enters the
    password as signing a dosing order does; the note says whether it is co-signed."""
    _paused_for_bp(nurse, session)
    order = _verbal(nurse, session, prescriber)
    assert "awaiting co-signature by" in services.note_text(session)
    client = logged_in_client(prescriber)
    home = client.get("/home/").content.decode()
    assert "Orders to co-sign" in home
    assert f"/infusions/sessions/{session.pk}/#verbal-orders" in home
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Co-sign order" in page
    assert "Co-sign order" not in (
        logged_in_client(nurse).get(f"/infusions/sessions/{session.pk}/").content.decode()
    )
    wrong = _act(
        client, session, "verbal-order-cosign", {"verbal_order_id": order.pk, "password": "x"}
    )
    assert wrong.status_code == 422
    assert "Not correct" in wrong.content.decode()
    ok = _act(
        client, session, "verbal-order-cosign", {"verbal_order_id": order.pk, "password": PASSWORD}
    )
    assert ok.status_code == 302
    order.refresh_from_db()
    assert order.cosigned_at is not None
    assert order.cosign_method == "password"
    assert AuditEvent.objects.filter(detail__event="verbal_order_cosign").exists()
    assert f"co-signed by {prescriber}" in services.note_text(session)
    assert "Orders to co-sign" not in client.get("/home/").content.decode()


def test_only_the_prescriber_who_gave_the_order_cosigns_it(nurse, prescriber, session, location):
    from django.core.exceptions import PermissionDenied

    _paused_for_bp(nurse, session)
    order = _verbal(nurse, session, prescriber)
    with pytest.raises(PermissionDenied):
        services.verbal_order_cosign(
            actor=make_user("prescriber", location), order=order, password=PASSWORD
        )
    with pytest.raises(PermissionDenied):
        services.verbal_order_cosign(actor=nurse, order=order, password=PASSWORD)


def test_another_locations_session_is_404_for_verbal_orders_and_cosigning(
    nurse, prescriber, session, other_location
):
    """Issue 21 point 4: staff of another location reach neither action (404, not 403)."""
    _paused_for_bp(nurse, session)
    order = _verbal(nurse, session, prescriber)
    stranger = logged_in_client(make_user("prescriber", other_location))
    assert (
        _act(stranger, session, "verbal-order-cosign", {"verbal_order_id": order.pk}).status_code
        == 404
    )
    other_nurse = logged_in_client(make_user("nurse", other_location))
    r = _act(other_nurse, session, "verbal-order", {"prescriber": prescriber.pk, "kind": "verbal"})
    assert r.status_code == 404
    assert "Orders to co-sign" not in stranger.get("/home/").content.decode()
