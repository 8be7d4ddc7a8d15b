"""Emergency access ("break the glass", issue 11 item 6): a prescriber may open a chart outside
their locations with a reason; it is always audited, mailed to the admins, shown on the admin's
home page, and it ends by itself."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.patients.models import EmergencyAccess
from tests.factories import PatientFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db

REASON = "Patient collapsed in our Denver waiting room; need allergies now."


@pytest.fixture
def elsewhere(other_location):
    return PatientFactory(home_location=other_location, family_name="Faraway")


def _break_glass(client, patient, reason=REASON):
    return client.post("/emergency-access/", {"mrn": patient.mrn, "reason": reason})


def test_prescriber_breaks_the_glass_and_opens_the_chart(
    location, other_location, elsewhere, django_capture_on_commit_callbacks
):
    prescriber = make_user("prescriber", location)
    admin_there = make_user("admin", other_location)
    make_user("admin", location)  # not the patient's location: not told
    client = logged_in_client(prescriber)
    assert client.get(f"/patients/{elsewhere.pk}/").status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        response = _break_glass(client, elsewhere)

    assert response.status_code == 302
    assert response["Location"] == f"/patients/{elsewhere.pk}/"
    assert client.get(f"/patients/{elsewhere.pk}/").status_code == 200
    event = AuditEvent.objects.get(action="break_glass")
    assert event.actor == prescriber
    assert event.patient == elsewhere
    assert event.detail["reason"] == REASON
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [admin_there.email]
    assert elsewhere.mrn in mail.outbox[0].body
    assert "Faraway" not in mail.outbox[0].body  # no name in mail


def test_admin_home_reports_emergency_accesses(location, other_location, elsewhere):
    prescriber = make_user("prescriber", location)
    admin_there = make_user("admin", other_location)
    _break_glass(logged_in_client(prescriber), elsewhere)
    page = logged_in_client(admin_there).get("/home/").content.decode()
    assert "Emergency access, last 30 days" in page
    assert elsewhere.mrn in page
    assert prescriber.email in page


def test_emergency_access_expires(location, elsewhere):
    prescriber = make_user("prescriber", location)
    client = logged_in_client(prescriber)
    _break_glass(client, elsewhere)
    EmergencyAccess.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(f"/patients/{elsewhere.pk}/").status_code == 404


@pytest.mark.parametrize("role", ["front_desk", "nurse", "admin", "patient"])
def test_only_prescribers_may_break_the_glass(location, elsewhere, role):
    user = make_user(role, location) if role != "patient" else make_user(role)
    response = _break_glass(logged_in_client(user), elsewhere)
    assert response.status_code == 403
    assert not EmergencyAccess.objects.exists()
    assert not AuditEvent.objects.filter(action="break_glass").exists()


@pytest.mark.parametrize(
    ("mrn", "reason", "field"),
    [
        ("elsewhere", "too short", "reason"),
        ("000000000", REASON, "mrn"),
        ("own", REASON, "mrn"),
    ],
)
def test_emergency_access_refuses_bad_requests_and_grants_nothing(
    location, elsewhere, mrn, reason, field
):
    prescriber = make_user("prescriber", location)
    own = PatientFactory(home_location=location)
    mrn = {"elsewhere": elsewhere.mrn, "own": own.mrn}.get(mrn, mrn)
    response = logged_in_client(prescriber).post(
        "/emergency-access/", {"mrn": mrn, "reason": reason}
    )
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not EmergencyAccess.objects.exists()
    assert not AuditEvent.objects.filter(action="break_glass").exists()
