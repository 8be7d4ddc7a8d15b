"""Issue 22 point 10: one location gate (`common.access.location_get_for_user`) behind every page
that takes a location code. Another location's code, an unknown code and a location id the
user does not work at all answer 404 (as before) and, now on every page, write a `denied` audit
event naming what was asked for (STYLE habit 3; before, the schedule and the infusion board
gates answered 404 without a trace)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from tests.factories import logged_in_client, make_user

pytestmark = pytest.mark.django_db


def _pages(location):
    today = timezone.localdate(timezone=location.tzinfo).isoformat()
    return [
        ("front_desk", "scheduling:day", {"day": today}),
        ("nurse", "infusions:board", {}),
        ("nurse", "controlled:ledger", {}),
    ]


@pytest.mark.parametrize("index", range(3))
def test_another_locations_page_is_404_with_a_denied_event(index, location, other_location):
    role, name, extra = _pages(location)[index]
    client = logged_in_client(make_user(role, location))
    own = client.get(reverse(name, kwargs={"location_code": location.code, **extra}))
    assert own.status_code == 200
    for asked in (other_location.code, "nowhere", str(other_location.pk)):
        before = AuditEvent.objects.filter(action=AuditAction.DENIED).count()
        response = client.get(reverse(name, kwargs={"location_code": asked, **extra}))
        assert response.status_code == 404, (name, asked)
        event = AuditEvent.objects.filter(action=AuditAction.DENIED).latest("pk")
        assert AuditEvent.objects.filter(action=AuditAction.DENIED).count() == before + 1
        assert event.detail == {"object_type": "accounts.Location", "requested_id": asked}


def test_a_role_without_the_capability_gets_404_for_the_board(location):
    """The board's gate asks for SESSION_RUN as well: front desk answers 404 (unchanged)."""
    client = logged_in_client(make_user("front_desk", location))
    response = client.get(reverse("infusions:board", kwargs={"location_code": location.code}))
    assert response.status_code in (403, 404)
