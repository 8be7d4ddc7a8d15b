"""Issue 21 point 12 (first part): vitals carry the time they were taken. A reading entered late
is stored and shown at its time taken (the location's local time, its zone named on the page),
never in the future nor before the check-in; intervals (MON-T2/T4/T6), alerts and the reading's
phase follow the time taken."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from infusionclinic.infusions import selectors, services
from infusionclinic.infusions.models import InfusionSession, PumpEvent
from tests.factories import logged_in_client

from .factories import NORMAL, checked_in, infusing, shift_back, vitals


def _checked_in_ago(nurse, session, minutes):
    checked_in(nurse, session)
    InfusionSession.objects.filter(pk=session.pk).update(
        checked_in_at=timezone.now() - timedelta(minutes=minutes)
    )
    session.refresh_from_db()


def _local(session, when):
    """What the nurse types in the datetime-local field: the location's wall clock."""
    return when.astimezone(session.location.tzinfo).strftime("%Y-%m-%dT%H:%M")


def test_a_reading_entered_with_time_taken_10_min_ago_is_stored_and_shown_at_that_time(
    nurse, session
):
    """Issue 21 point 12: the form's "Time taken" (America/New_York here) is the stored time."""
    _checked_in_ago(nurse, session, 30)
    client = logged_in_client(nurse)
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Time taken (America/New_York)" in page
    taken = timezone.now() - timedelta(minutes=10)
    r = client.post(
        f"/infusions/sessions/{session.pk}/vitals/", {**NORMAL, "taken_at": _local(session, taken)}
    )
    assert r.status_code == 302
    vital = session.vitals.get()
    assert vital.taken_at == taken.replace(second=0, microsecond=0)
    assert vital.created_at > vital.taken_at + timedelta(minutes=9)
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    local = vital.taken_at.astimezone(session.location.tzinfo).strftime("%H:%M")
    assert f"<tr><td>{local}</td>" in page


def test_a_future_time_taken_is_refused_with_a_clear_form_error(nurse, session):
    """Issue 21 point 12: not in the future; the error sits on the field."""
    _checked_in_ago(nurse, session, 30)
    r = logged_in_client(nurse).post(
        f"/infusions/sessions/{session.pk}/vitals/",
        {**NORMAL, "taken_at": _local(session, timezone.now() + timedelta(minutes=30))},
    )
    assert r.status_code == 422
    assert "A reading cannot be in the future." in r.content.decode()
    assert not session.vitals.exists()


def test_a_time_taken_before_the_check_in_is_refused(nurse, session):
    """Issue 21 point 12: not before the session's check-in."""
    _checked_in_ago(nurse, session, 5)
    with pytest.raises(ValidationError) as err:
        vitals(nurse, session, taken_at=timezone.now() - timedelta(minutes=20))
    assert err.value.message_dict["taken_at"] == [
        "A reading cannot be taken before this session's check-in."
    ]


def test_vital_record_without_taken_at_is_stamped_now(nurse, session):
    checked_in(nurse, session)
    before = timezone.now()
    vital = services.vital_record(actor=nurse, session=session, **NORMAL)
    assert before <= vital.taken_at <= timezone.now()


def test_mon_t2_next_reading_due_counts_from_the_time_taken(nurse, session):
    """MON-T2: the 10-minute interval runs from the time taken, not from the entry."""
    infusing(nurse, session)
    InfusionSession.objects.filter(pk=session.pk).update(
        checked_in_at=timezone.now() - timedelta(minutes=60)
    )
    shift_back(session, 30)  # the pre-infusion reading and the start, 30 min ago
    taken = timezone.now() - timedelta(minutes=8)
    vitals(nurse, session, taken_at=taken)
    session.refresh_from_db()
    due = selectors.reading_overdue(session)
    assert due.due_at == taken + timedelta(minutes=10)


def test_a_late_entry_gets_the_phase_and_alerts_of_the_time_it_was_taken(nurse, session):
    """Issue 21 point 12 with MON-BP-2/MON-BP-3: after the stop, a 185/115 taken during the
    infusion is an infusion reading (MON-BP-3); one taken before the start is a pre-infusion
    reading (MON-BP-2)."""
    infusing(nurse, session)
    now = timezone.now()
    InfusionSession.objects.filter(pk=session.pk).update(checked_in_at=now - timedelta(hours=1))
    PumpEvent.objects.filter(session=session).update(at=now - timedelta(minutes=40))
    services.pump_event_record(actor=nurse, session=session, action="stop")
    during = vitals(
        nurse,
        session,
        taken_at=now - timedelta(minutes=10),
        systolic_mmhg=185,
        diastolic_mmhg=115,
    )
    assert during.phase == "infusion"
    assert "MON-BP-3" in [a.rule_id for a in during.alerts.all()]
    before = vitals(
        nurse,
        session,
        taken_at=now - timedelta(minutes=45),
        systolic_mmhg=185,
        diastolic_mmhg=115,
    )
    assert before.phase == "pre"
    assert "MON-BP-2" in [a.rule_id for a in before.alerts.all()]
    after = vitals(nurse, session)
    assert after.phase == "recovery"
