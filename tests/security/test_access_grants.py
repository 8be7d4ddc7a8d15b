"""Role grants and revocations are audited (issue 11, item 7), whether made by `create_user` or by
a clinic admin in the Django admin."""

import pytest
from django.core.management import call_command

from infusionclinic.accounts.models import User
from infusionclinic.audit.models import AuditEvent
from tests.factories import LocationFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db


def test_create_user_audits_the_grant_of_role_and_locations(location):
    call_command("create_user", "new.nurse@example.com", role="nurse", locations=["north"])
    user = User.objects.get(email="new.nurse@example.com")
    event = AuditEvent.objects.get(action="grant", object_id=str(user.pk))
    assert event.detail == {"role": "nurse", "locations": ["north"]}
    assert event.channel == "cli"


def test_admin_changing_role_and_locations_audits_grant_and_revoke(location, other_location):
    admin = make_user("admin", location, other_location)
    nurse = make_user("nurse", location)
    client = logged_in_client(admin)
    response = client.post(
        f"/admin/accounts/user/{nurse.pk}/change/",
        {
            "email": nurse.email,
            "full_name": nurse.full_name,
            "role": "prescriber",
            "locations": [other_location.pk],
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    grant = AuditEvent.objects.get(action="grant", object_id=str(nurse.pk))
    revoke = AuditEvent.objects.get(action="revoke", object_id=str(nurse.pk))
    assert grant.detail == {"role": "prescriber", "locations": ["south"]}
    assert revoke.detail == {"role": "nurse", "locations": ["north"]}
    assert grant.actor == admin


def test_admin_deactivating_a_user_audits_a_revoke_and_nothing_else(location):
    admin = make_user("admin", location)
    nurse = make_user("nurse", location)
    LocationFactory()
    response = logged_in_client(admin).post(
        f"/admin/accounts/user/{nurse.pk}/change/",
        {
            "email": nurse.email,
            "full_name": nurse.full_name,
            "role": "nurse",
            "locations": [location.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="grant").exists()
    assert AuditEvent.objects.get(action="revoke").detail == {"active": True}
