"""Issue 22 point 6: API tokens expire (API_TOKEN_DAYS), are revoked by a password reset (or any
password change) and by "log out everywhere", and their owner lists and revokes them on a page
and through the API; every creation and revocation is audited. On main a token lived for ever
and survived both events: each test here fails there."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from infusionclinic.accounts.api_tokens import api_token_create
from infusionclinic.accounts.models import ApiToken
from infusionclinic.audit.models import AuditAction, AuditEvent
from tests.factories import PASSWORD, logged_in_client, make_user

pytestmark = pytest.mark.django_db

API = "/api/v1"
NEW_PASSWORD = "a new long passphrase 42"
RESET_LINK = re.compile(r"https?://[^/\s]+(/accounts/reset/[^/\s]+/[^/\s]+/)")


def _bearer(raw: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw}"})


def _works(raw: str) -> bool:
    return _bearer(raw).get(f"{API}/locations").status_code == 200


@pytest.fixture
def nurse(location):
    return make_user("nurse", location)


def _token_events(action):
    return list(
        AuditEvent.objects.filter(action=action, object_type__iexact="accounts.ApiToken").order_by(
            "id"
        )
    )


# --- expiry ----------------------------------------------------------------------------------


def test_a_token_expires_after_api_token_days(nurse, settings):
    settings.API_TOKEN_DAYS = 30
    raw = api_token_create(user=nurse)
    token = ApiToken.objects.get(user=nurse)
    made = token.created_at
    assert token.expires_at - made == pytest.approx(timedelta(days=30), abs=timedelta(seconds=5))
    assert _works(raw)

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = _bearer(raw).get(f"{API}/locations")
    assert response.status_code == 401


def test_the_default_expiry_is_90_days(nurse):
    api_token_create(user=nurse)
    token = ApiToken.objects.get(user=nurse)
    assert (token.expires_at - token.created_at).days in (89, 90)


def test_a_token_may_be_shorter_but_not_longer_than_the_setting(nurse, settings):
    settings.API_TOKEN_DAYS = 10
    api_token_create(user=nurse, days=3)
    with pytest.raises(ValidationError) as err:
        api_token_create(user=nurse, days=11)
    assert "days" in err.value.message_dict
    assert ApiToken.objects.filter(user=nurse).count() == 1


def test_create_api_token_command_takes_a_name_and_days_and_is_audited(nurse, capsys):
    call_command("create_api_token", nurse.email, "--name", "monitor 3", "--days", "7")
    raw = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(digest=ApiToken.digest_of(raw))
    assert token.name == "monitor 3"
    assert (token.expires_at - token.created_at).days in (6, 7)
    (event,) = _token_events(AuditAction.GRANT)
    assert event.detail["api_token"] == token.prefix
    assert event.detail["user"] == nurse.pk
    assert raw not in str(event.detail)


# --- revoked by a password reset and by "log out everywhere" ----------------------------------


def test_a_password_reset_revokes_every_token_of_the_user(nurse):
    first, second = api_token_create(user=nurse), api_token_create(user=nurse)
    client = Client()
    client.post("/accounts/password-reset/", {"email": nurse.email})
    link = RESET_LINK.search(mail.outbox[-1].body)
    form = client.get(link.group(1), follow=True)
    response = client.post(
        form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302

    assert not _works(first)
    assert not _works(second)
    assert set(ApiToken.objects.filter(user=nurse).values_list("revoked_reason", flat=True)) == {
        "password reset"
    }
    assert len(_token_events(AuditAction.REVOKE)) == 2


def test_log_out_everywhere_revokes_every_token_of_the_user(nurse, location):
    raw = api_token_create(user=nurse)
    other = make_user("nurse", location)
    others = api_token_create(user=other)

    response = logged_in_client(nurse).post(reverse("accounts:logout_everywhere"))
    assert response.status_code == 302

    assert not _works(raw)
    assert _works(others)
    token = ApiToken.objects.get(user=nurse)
    assert token.revoked_reason == "logged out everywhere"
    (event,) = _token_events(AuditAction.REVOKE)
    assert event.actor_id == nurse.pk


def test_a_password_changed_by_any_other_path_also_ends_the_token(nurse):
    """`manage.py changepassword` or the admin change the password without our views: the token
    is bound to the credentials, so it stops working and is recorded as revoked."""
    raw = api_token_create(user=nurse)
    nurse.set_password(NEW_PASSWORD)
    nurse.save(update_fields=["password"])

    assert not _works(raw)
    token = ApiToken.objects.get(user=nurse)
    assert token.revoked_reason == "password or sessions changed"
    assert len(_token_events(AuditAction.REVOKE)) == 1


# --- the owner's list and revocation: page -----------------------------------------------------


def test_the_token_page_lists_only_the_users_own_tokens(nurse, location):
    api_token_create(user=nurse, name="bay 3 monitor")
    other = make_user("nurse", location)
    api_token_create(user=other, name="someone else's")
    mine = ApiToken.objects.get(user=nurse)

    response = logged_in_client(nurse).get(reverse("accounts:api_tokens"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "bay 3 monitor" in body
    assert mine.prefix in body
    assert "someone else" not in body
    assert ApiToken.objects.get(user=other).prefix not in body


def test_the_owner_revokes_a_token_on_the_page_and_it_stops_working(nurse):
    raw = api_token_create(user=nurse)
    token = ApiToken.objects.get(user=nurse)
    client = logged_in_client(nurse)

    response = client.post(reverse("accounts:api_token_revoke", args=[token.pk]))

    assert response.status_code == 302
    assert not _works(raw)
    token.refresh_from_db()
    assert token.revoked_reason == "revoked by its owner"
    (event,) = _token_events(AuditAction.REVOKE)
    assert event.actor_id == nurse.pk
    assert "revoked" in client.get(reverse("accounts:api_tokens")).content.decode()


def test_another_users_token_cannot_be_revoked_and_answers_404(nurse, location):
    other = make_user("nurse", location)
    raw = api_token_create(user=other)
    token = ApiToken.objects.get(user=other)

    response = logged_in_client(nurse).post(reverse("accounts:api_token_revoke", args=[token.pk]))

    assert response.status_code == 404
    assert _works(raw)
    assert AuditEvent.objects.filter(action=AuditAction.DENIED, actor=nurse).exists()


def test_revoking_is_post_only(nurse):
    api_token_create(user=nurse)
    token = ApiToken.objects.get(user=nurse)
    response = logged_in_client(nurse).get(reverse("accounts:api_token_revoke", args=[token.pk]))
    assert response.status_code == 405


# --- the owner's list and revocation: API ------------------------------------------------------


def test_the_api_lists_the_callers_tokens_and_marks_the_current_one(nurse, location):
    raw = api_token_create(user=nurse, name="laptop")
    api_token_create(user=nurse, name="monitor")
    api_token_create(user=make_user("nurse", location), name="not mine")

    response = _bearer(raw).get(f"{API}/tokens")

    assert response.status_code == 200
    listed = response.json()
    assert sorted(t["name"] for t in listed) == ["laptop", "monitor"]
    assert [t["name"] for t in listed if t["current"]] == ["laptop"]
    assert {t["status"] for t in listed} == {"active"}
    assert all(t["expires_at"] for t in listed)
    assert raw not in response.content.decode()


def test_the_api_revokes_a_token_and_refuses_another_users(nurse, location):
    raw = api_token_create(user=nurse)
    spare = api_token_create(user=nurse, name="spare")
    spare_id = ApiToken.objects.get(name="spare").pk
    other_raw = api_token_create(user=make_user("nurse", location))
    other_id = ApiToken.objects.get(digest=ApiToken.digest_of(other_raw)).pk
    client = _bearer(raw)

    assert client.post(f"{API}/tokens/{other_id}/revoke").status_code == 404
    assert _works(other_raw)
    response = client.post(f"{API}/tokens/{spare_id}/revoke")
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert not _works(spare)
    assert _works(raw)


def test_a_revoked_or_expired_token_cannot_list_tokens(nurse):
    raw = api_token_create(user=nurse)
    ApiToken.objects.filter(user=nurse).update(expires_at=timezone.now() - timedelta(days=1))
    assert _bearer(raw).get(f"{API}/tokens").status_code == 401


def test_creation_is_audited_without_the_raw_token(nurse):
    raw = api_token_create(user=nurse, actor=nurse, name="x")
    (event,) = _token_events(AuditAction.GRANT)
    assert event.actor_id == nurse.pk
    assert raw not in str(event.detail)
    assert PASSWORD not in str(event.detail)
