"""Issue 21 point 9: an open SCALE-4 safety alert (PHQ-9 item 9) is shown, linked to where a
prescriber acknowledges it, at course start, dosing order signing, series booking, check-in and
pre-checks. Pre-checks keep their hard stop; the other steps go on only once the user ticks
"I have seen the open safety alert", and that is audited with the alerts it covered."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.courses.models import TreatmentCourse
from infusionclinic.dosing import services as dosing_services
from infusionclinic.dosing.models import DosingOrder
from infusionclinic.dosing.tests.factories import STANDARD
from infusionclinic.infusions.models import SessionState
from infusionclinic.outcomes.models import SafetyAlert
from infusionclinic.outcomes.selectors import safety_alerts_open
from infusionclinic.outcomes.tests.factories import submit
from infusionclinic.scheduling.models import Appointment
from infusionclinic.scheduling.tests.factories import future_day, staffed_location
from tests.factories import PASSWORD, logged_in_client, make_user

pytestmark = pytest.mark.django_db

SEEN = {"safety_alert_seen": "on"}


@pytest.fixture
def alert(patient):
    submit(
        patient,
        "PHQ-9",
        [1, 1, 1, 1, 1, 1, 1, 1, 1],
        timezone.now() - timedelta(hours=1),
        patient.user,
    )
    return SafetyAlert.objects.get(patient=patient)


def _seen_events(patient, step):
    return AuditEvent.objects.filter(patient=patient, detail__step=step).exclude(
        detail__safety_alerts_seen=None
    )


def _warned_with_link(html, patient, alert):
    assert "SCALE-4" in html
    assert f'href="/patients/{patient.pk}/outcomes/#alert-{alert.pk}"' in html


def test_the_one_selector_lists_open_alerts_only(patient, prescriber, alert):
    from infusionclinic.outcomes.services import safety_alert_acknowledge

    assert safety_alerts_open(patient=patient) == [alert]
    safety_alert_acknowledge(actor=prescriber, alert=alert, action_taken="Risk assessed.")
    assert safety_alerts_open(patient=patient) == []


def test_course_start_warns_links_and_needs_the_box(prescriber, patient, alert):
    client = logged_in_client(prescriber)
    url = f"/patients/{patient.pk}/courses/"
    _warned_with_link(client.get(url).content.decode(), patient, alert)
    refused = client.post(url, {"indication": "depression"})
    assert refused.status_code == 400
    assert "I have seen the open safety alert" in refused.content.decode()
    assert not TreatmentCourse.objects.filter(patient=patient).exists()
    assert client.post(url, {"indication": "depression", **SEEN}).status_code == 302
    assert TreatmentCourse.objects.filter(patient=patient).exists()
    assert _seen_events(patient, "course-start").get().detail["safety_alerts_seen"] == [alert.pk]


def test_order_signing_warns_links_and_needs_the_box(prescriber, patient, alert):
    draft = dosing_services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    client = logged_in_client(prescriber)
    _warned_with_link(
        client.get(reverse("dosing:order", args=[draft.pk])).content.decode(), patient, alert
    )
    url = reverse("dosing:order_sign", args=[draft.pk])
    refused = client.post(url, {"password": PASSWORD})
    assert refused.status_code == 400
    assert "tick" in refused.content.decode()
    assert not DosingOrder.objects.get(pk=draft.pk).is_signed
    assert client.post(url, {"password": PASSWORD, **SEEN}).status_code == 302
    assert DosingOrder.objects.get(pk=draft.pk).is_signed
    assert _seen_events(patient, "order-sign").exists()


def test_series_booking_warns_and_needs_the_box_front_desk_sees_no_clinical_text(
    location, patient, alert
):
    staffed_location(location)
    desk = logged_in_client(make_user("front_desk", location))
    url = f"/patients/{patient.pk}/series/"
    page = desk.get(url).content.decode()
    assert "open safety alert" in page
    assert alert.message not in page  # front desk: no clinical detail
    form = {
        "location": location.pk,
        "first_date": (future_day() + timedelta(days=1)).isoformat(),
        "preferred_time": "09:00",
        "count": 3,
        "interval_days": 7,
    }
    html = desk.post(url, {**form, "action": "propose"}).content.decode()
    assert 'name="safety_alert_seen"' in html
    starts = re.findall(r'name="starts" value="([^"]+)"', html)
    refused = desk.post(url, {**form, "action": "accept", "starts": starts})
    assert refused.status_code == 200
    assert "tick" in refused.content.decode()
    assert not Appointment.objects.filter(patient=patient).exists()
    booked = desk.post(url, {**form, "action": "accept", "starts": starts, **SEEN})
    assert booked.status_code == 302
    assert Appointment.objects.filter(patient=patient).count() == 3
    assert _seen_events(patient, "series-book").exists()


def test_check_in_warns_and_needs_the_box_pre_checks_link_the_alert(nurse, session, alert):
    client = logged_in_client(nurse)
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    _warned_with_link(page, session.patient, alert)
    url = reverse("infusions:session_action", args=[session.pk, "check-in"])
    data = {"identity_confirmed": "on", "escort_name": "Alex", "escort_phone": "555-010-0199"}
    refused = client.post(url, data)
    assert refused.status_code == 422
    session.refresh_from_db()
    assert session.state == SessionState.SCHEDULED
    assert client.post(url, {**data, **SEEN}).status_code == 302
    session.refresh_from_db()
    assert session.state == SessionState.CHECKED_IN
    assert _seen_events(session.patient, "check-in").exists()
    # Pre-checks still stop on the alert, and now say where it is resolved.
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "The infusion cannot start until it is acknowledged." in page
    assert f"/patients/{session.patient.pk}/outcomes/#alert-{alert.pk}" in page


def test_without_an_open_alert_no_box_is_asked(nurse, session):
    checked_in_url = reverse("infusions:session_action", args=[session.pk, "check-in"])
    client = logged_in_client(nurse)
    data = {"identity_confirmed": "on", "escort_name": "Alex", "escort_phone": "555-010-0199"}
    assert client.post(checked_in_url, data).status_code == 302
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert 'name="safety_alert_seen"' not in page


def test_single_booking_through_the_api_warns_with_the_link(location, patient, alert, prescriber):
    """The API cannot show a checkbox: a staff booking's answer carries the warning, audited."""
    from infusionclinic.scheduling.tests.factories import local
    from tests.factories import api_client

    staffed_location(location)
    response = api_client(prescriber).post(
        "/api/v1/appointments",
        {
            "patient_id": patient.pk,
            "location": location.code,
            "type": "infusion",
            "starts_at": local(location, future_day() + timedelta(days=1), 10).isoformat(),
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    warning = response.json()["safety_warning"]
    assert warning.startswith("SCALE-4")
    assert f"/patients/{patient.pk}/outcomes/#alert-{alert.pk}" in warning
    assert _seen_events(patient, "api-book").exists()
