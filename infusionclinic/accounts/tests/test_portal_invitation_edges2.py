"""Issue 21 point 2 (b): staff invite a registered patient to the portal. The invitation creates
the patient's log-in (`user_create`, role patient, the chart's MRN, no password) and mails a
link to choose a password (Django's reset tokens, its own salt and validity); the patient then
logs in and sees their own /my/ pages. The mail carries no health information."""

import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from infusionclinic.accounts.invitations import (
    portal_invitation_resend,
    portal_invitation_send,
    portal_invitation_token_generator,
)
from infusionclinic.accounts.models import User
from infusionclinic.audit.models import AuditEvent
from tests.factories import PatientFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Violet-lantern-orbit-73"


@pytest.fixture
def desk(location):
    return make_user("front_desk", location)


@pytest.fixture
def patient(location):
    return PatientFactory(
        home_location=location, given_name="Ada", family_name="Quill", email="ada@example.com"
    )


def _link(message) -> str:
    (url,) = re.findall(r"https?://\S+/accounts/invitation/\S+/", message.body)
    return urlsplit(url).path


def _choose_password(client: Client, link: str):
    page = client.get(link)  # Django swaps the token for a session key and redirects
    assert page.status_code == 302
    return client.post(page.url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})


def test_invitation_link_sets_a_password_and_the_patient_logs_in_to_my_pages_issue21_point2(
    desk, patient
):
    user = portal_invitation_send(actor=desk, patient=patient)
    patient.refresh_from_db()
    assert patient.user == user
    assert (user.role, user.email, user.has_usable_password()) == (
        "patient",
        "ada@example.com",
        False,
    )
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    # No health information: not the name, not the MRN, nothing about care.
    for secret in ("Ada", "Quill", patient.mrn, "ketamine", "infusion "):
        assert secret not in message.body
        assert secret not in message.subject
    link = _link(message)
    client = Client()
    done = _choose_password(client, link)
    assert done.status_code == 302
    assert done.url == "/accounts/reset/done/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert AuditEvent.objects.filter(
        actor=user, action="update", detail__portal_invitation="accepted"
    ).exists()
    # The link works once.
    assert "invalid, has been used" in Client().get(link, follow=True).content.decode()
    # The patient logs in and lands on their own chart, under /my/.
    patient_client = Client()
    login = patient_client.post(
        "/accounts/login/", {"username": "ada@example.com", "password": NEW_PASSWORD}
    )
    assert login.status_code == 302
    home = patient_client.get("/home/", follow=True)
    assert home.redirect_chain[-1][0] == "/my/"  # the portal home (issue 18 section 1)
    assert patient.mrn in patient_client.get("/my/chart/").content.decode()
    assert patient_client.get("/my/appointments/").status_code == 200


def test_invitation_is_audited_and_refused_twice_issue21_point2(desk, patient):
    user = portal_invitation_send(actor=desk, patient=patient)
    assert AuditEvent.objects.filter(
        actor=desk, action="grant", patient=patient, detail__portal_invitation="sent"
    ).exists()
    with pytest.raises(ValidationError, match="already has a portal account"):
        portal_invitation_send(actor=desk, patient=patient)
    assert User.objects.filter(role="patient").count() == 1
    # Resend while no password is chosen: a new link to the same log-in.
    assert portal_invitation_resend(actor=desk, patient=patient) == user
    assert len(mail.outbox) == 2
    assert AuditEvent.objects.filter(detail__portal_invitation="resent").count() == 1
    _choose_password(Client(), _link(mail.outbox[1]))
    with pytest.raises(ValidationError, match="already chosen a password"):
        portal_invitation_resend(actor=desk, patient=patient)
    assert len(mail.outbox) == 2


def test_invitation_needs_an_email_and_a_role_that_registers_patients_issue21_point2(
    desk, location, other_location, patient
):
    no_email = PatientFactory(home_location=location, email="")
    with pytest.raises(ValidationError, match="e-mail address"):
        portal_invitation_send(actor=desk, patient=no_email)
    with pytest.raises(PermissionDenied):
        portal_invitation_send(actor=make_user("nurse", location), patient=patient)
    with pytest.raises(PermissionDenied):
        portal_invitation_send(actor=make_user("front_desk", other_location), patient=patient)
    assert portal_invitation_send(actor=make_user("admin", location), patient=patient)
    assert not mail.outbox[1:]


def test_invitation_link_expires_and_a_password_reset_token_is_not_an_invitation_issue21_point2(
    desk, patient
):
    from django.contrib.auth.tokens import default_token_generator

    user = portal_invitation_send(actor=desk, patient=patient)
    generator = portal_invitation_token_generator
    now = generator._num_seconds(generator._now())
    limit = settings.ACCOUNTS_PORTAL_INVITATION_HOURS * 3600
    fresh = generator._make_token_with_timestamp(user, now - limit + 60, generator.secret)
    stale = generator._make_token_with_timestamp(user, now - limit - 60, generator.secret)
    assert generator.check_token(user, fresh)
    assert not generator.check_token(user, stale)
    assert not generator.check_token(user, default_token_generator.make_token(user))
    assert not default_token_generator.check_token(user, generator.make_token(user))


def test_chart_offers_invite_then_resend_to_front_desk_only_issue21_point2(desk, location, patient):
    client = logged_in_client(desk)
    url = f"/patients/{patient.pk}/"
    assert "Invite to the portal" in client.get(url).content.decode()
    nurse_chart = logged_in_client(make_user("nurse", location)).get(url).content.decode()
    assert "Invite to the portal" not in nurse_chart
    response = client.post(f"/patients/{patient.pk}/portal-invitation/", follow=True)
    html = response.content.decode()
    assert "Portal invitation sent to ada@example.com." in html
    assert "Resend invitation" in html
    assert "Invite to the portal" not in html
    again = client.post(f"/patients/{patient.pk}/portal-invitation/", follow=True)
    assert "already has a portal account" in again.content.decode()
    resent = client.post(
        f"/patients/{patient.pk}/portal-invitation/", {"action": "resend"}, follow=True
    )
    assert "Portal invitation sent again" in resent.content.decode()
    assert len(mail.outbox) == 2


def test_chart_asks_for_an_email_before_inviting_issue21_point2(desk, location):
    no_email = PatientFactory(home_location=location, email="")
    client = logged_in_client(desk)
    assert "record the patient's e-mail address" in (
        client.get(f"/patients/{no_email.pk}/").content.decode()
    )
    refused = client.post(f"/patients/{no_email.pk}/portal-invitation/", follow=True)
    assert "Record an e-mail address for this patient first" in refused.content.decode()
    assert no_email.__class__.objects.get(pk=no_email.pk).user is None


def test_invitation_view_is_404_for_another_locations_patient_and_403_for_a_nurse_issue21_point2(
    desk, location, other_location, patient
):
    stranger = PatientFactory(home_location=other_location, email="s@example.com")
    response = logged_in_client(desk).post(f"/patients/{stranger.pk}/portal-invitation/")
    assert response.status_code == 404
    nurse = logged_in_client(make_user("nurse", location))
    assert nurse.post(f"/patients/{patient.pk}/portal-invitation/").status_code == 403
    assert not User.objects.filter(role="patient").exists()
    assert not mail.outbox
