"""Issue 18 section 1: confirm / reschedule / cancel the next appointment from the portal within
the clinic's policy — online changes until SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS before the
start (refused after), a cancellation within SCHEDULING_LATE_CANCEL_HOURS is late and, when the
clinic charges SCHEDULING_LATE_CANCEL_FEE, needs the fee accepted first; rescheduling offers
the free times scheduling's `availability` gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.portal import selectors
from infusionclinic.scheduling.models import AppointmentStatus
from tests.factories import logged_in_client, make_user

from .builders import booked, portal_patient

pytestmark = pytest.mark.django_db

POLICY = {
    "SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS": 12,
    "SCHEDULING_LATE_CANCEL_HOURS": 24,
    "SCHEDULING_LATE_CANCEL_FEE": "75.00",
}


@pytest.fixture
def p(location):
    return portal_patient(location)


def _url(name: str, appointment) -> str:  # noqa: ANN001
    return reverse(f"portal:appointment_{name}", args=[appointment.pk])


# --- Confirm -----------------------------------------------------------------------------------


def test_the_patient_confirms_the_next_appointment_and_it_is_audited(p):
    appointment = booked(p, starts_in=timedelta(days=3))
    client = logged_in_client(p.user)
    assert b"Confirm I will come" in client.get("/my/").content
    response = client.post(_url("confirm", appointment))
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.confirmed_at is not None
    assert AuditEvent.objects.filter(
        actor=p.user, object_id=str(appointment.pk), detail__confirmed=True
    ).exists()
    assert b"You have confirmed this appointment" in client.get("/my/").content


def test_confirm_answers_404_for_another_patients_appointment_and_for_staff(p, location):
    other = portal_patient(location)
    theirs = booked(other, starts_in=timedelta(days=3))
    assert logged_in_client(p.user).post(_url("confirm", theirs)).status_code == 404
    assert logged_in_client(p.desk).post(_url("confirm", theirs)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.confirmed_at is None


def test_a_cancelled_or_past_appointment_cannot_be_confirmed(p):
    past = booked(p, starts_in=-timedelta(hours=2))
    gone = booked(p, starts_in=timedelta(days=2))
    type(gone).objects.filter(pk=gone.pk).update(status=AppointmentStatus.CANCELLED)
    client = logged_in_client(p.user)
    assert client.post(_url("confirm", past)).status_code == 404
    assert client.post(_url("confirm", gone)).status_code == 404


# --- Cancel ------------------------------------------------------------------------------------


@override_settings(**POLICY)
def test_cancelling_well_before_the_start_is_not_late_and_shows_no_fee(p):
    appointment = booked(p, starts_in=timedelta(days=5))
    client = logged_in_client(p.user)
    page = client.get(_url("cancel", appointment)).content.decode()
    assert "late-cancellation fee" not in page
    response = client.post(_url("cancel", appointment), {"reason": "Travelling"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.late_cancellation is False


@override_settings(**POLICY)
def test_a_late_cancel_within_the_policy_window_warns_and_needs_the_fee_accepted(p):
    """18 h before: inside the 24 h late window, before the 12 h online cut-off."""
    appointment = booked(p, starts_in=timedelta(hours=18))
    client = logged_in_client(p.user)
    home = client.get("/my/").content.decode()
    assert "late-cancellation fee of $75.00" in home
    page = client.get(_url("cancel", appointment)).content.decode()
    assert "charges a late-cancellation fee of $75.00" in page
    assert 'name="fee_accepted"' in page
    refused = client.post(_url("cancel", appointment), {"reason": "Sick"})
    assert refused.status_code == 400
    assert "accept the late-cancellation fee of $75.00" in refused.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED
    done = client.post(_url("cancel", appointment), {"reason": "Sick", "fee_accepted": "on"})
    assert done.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.late_cancellation is True


@override_settings(**{**POLICY, "SCHEDULING_LATE_CANCEL_FEE": "0.00"})
def test_a_late_cancel_without_a_fee_needs_no_acceptance(p):
    appointment = booked(p, starts_in=timedelta(hours=18))
    client = logged_in_client(p.user)
    assert 'name="fee_accepted"' not in client.get(_url("cancel", appointment)).content.decode()
    assert client.post(_url("cancel", appointment), {"reason": "Sick"}).status_code == 302
    appointment.refresh_from_db()
    assert appointment.late_cancellation is True


@override_settings(**POLICY)
def test_inside_the_online_cut_off_cancel_and_reschedule_are_refused(p):
    """6 h before, inside the 12 h cut-off: the home says to call, and the change is refused
    by scheduling's own cut-off (409), the appointment stays booked."""
    appointment = booked(p, starts_in=timedelta(hours=6))
    client = logged_in_client(p.user)
    home = client.get("/my/").content.decode()
    assert "please call the clinic" in home
    assert _url("cancel", appointment) not in home
    assert _url("reschedule", appointment) not in home
    response = client.post(_url("cancel", appointment), {"reason": "Sick", "fee_accepted": "on"})
    assert response.status_code == 409
    assert "Online changes are possible up to 12 h" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


def test_cancel_needs_a_reason(p):
    appointment = booked(p, starts_in=timedelta(days=5))
    response = logged_in_client(p.user).post(_url("cancel", appointment), {"reason": " "})
    assert response.status_code == 400
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


# --- Reschedule --------------------------------------------------------------------------------


def _day(p, days: int):  # noqa: ANN001, ANN202
    return timezone.localdate(timezone=p.location.tzinfo) + timedelta(days=days)


@override_settings(**POLICY)
def test_reschedule_offers_the_free_times_and_moves_to_one(p):
    appointment = booked(p, starts_in=timedelta(days=3))
    day = _day(p, 6)
    expected = selectors.reschedule_slots(appointment=appointment, day=day)
    assert expected, "the open, staffed location has free follow-up times"
    client = logged_in_client(p.user)
    page = client.get(_url("reschedule", appointment), {"date": day.isoformat()})
    html = page.content.decode()
    for slot in expected:
        assert f'value="{slot.isoformat()}"' in html
    target = expected[2]
    response = client.post(
        _url("reschedule", appointment),
        {"date": day.isoformat(), "starts_at": target.isoformat()},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    appointment.refresh_from_db()
    assert appointment.starts_at == target
    assert appointment.status == AppointmentStatus.BOOKED


@override_settings(**POLICY)
def test_reschedule_refuses_a_time_it_did_not_offer(p):
    appointment = booked(p, starts_in=timedelta(days=3))
    day = _day(p, 6)
    before = appointment.starts_at
    odd = selectors.reschedule_slots(appointment=appointment, day=day)[0] + timedelta(minutes=7)
    response = logged_in_client(p.user).post(
        _url("reschedule", appointment), {"date": day.isoformat(), "starts_at": odd.isoformat()}
    )
    assert response.status_code == 400
    appointment.refresh_from_db()
    assert appointment.starts_at == before


@override_settings(**POLICY)
def test_reschedule_offers_no_time_inside_the_cut_off(p):
    """Times within 12 h from now are never offered (today's late slots)."""
    appointment = booked(p, starts_in=timedelta(days=3))
    limit = timezone.now() + timedelta(hours=12)
    for days in (0, 1):
        for slot in selectors.reschedule_slots(appointment=appointment, day=_day(p, days)):
            assert slot >= limit


def test_staff_get_404_on_the_portal_appointment_pages(p, location):
    appointment = booked(p, starts_in=timedelta(days=3))
    nurse = make_user("nurse", location)
    client = logged_in_client(nurse)
    for name in ("cancel", "reschedule"):
        assert client.get(_url(name, appointment)).status_code == 404
