"""Issue 20 §3: the vitals POST's access-scoped session look-up, MON-T1's baseline and the
warning signs present (MON-BP-4, MON-X-1) are compiled to SQL once per role and process
(`infusionclinic.common.compiled`). These tests hold the compiled SQL equal to the ORM's for
real users of every role, and the access rule live: who may see a session is decided by the
database's rows at each request, not by the cache."""

import json
from datetime import timedelta

import pytest
from django.db import DEFAULT_DB_ALIAS
from django.http import Http404
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.infusions import selectors
from infusionclinic.infusions.models import Symptom, VitalSign
from infusionclinic.patients.models import EmergencyAccess
from tests.factories import api_client, make_user

from .factories import NORMAL, infusing


def _post(client, session):
    return client.post(
        f"/api/v1/sessions/{session.pk}/vitals",
        data=json.dumps({**NORMAL, "taken_at": timezone.now().isoformat()}),
        content_type="application/json",
        headers={"Idempotency-Key": f"k-{timezone.now().timestamp()}"},
    )


@pytest.mark.parametrize("role", ["nurse", "prescriber", "admin", "front_desk", "patient"])
def test_compiled_session_look_up_sends_the_orm_sql_for_each_role(
    role, location, other_location, patient, session
):
    """The slots (user, session id, the time) filled with a real user's values give exactly the
    SQL and parameters the ORM builds for that user: the rule is the selector's, not a copy.
    Roles that run no session (front desk, patient) are not compiled: the ORM answers none."""
    user = make_user(role, location, other_location) if role != "patient" else patient.user
    # An open emergency access: a parameter of the visible-patients rule.
    EmergencyAccess.objects.create(
        user=user, patient=patient, reason="test", expires_at=timezone.now() + timedelta(hours=1)
    )
    now = timezone.now()
    compiled = selectors._session_lookup.sql_with_params(
        DEFAULT_DB_ALIAS, (user.role, user.is_active), user_id=user.pk, pk=session.pk, now=now
    )
    if not user.has_role_perm(selectors.Perm.SESSION_RUN):
        assert compiled is None
        return
    orm = selectors.sessions_visible_to(user=user, now=now).filter(pk=session.pk)[:1]
    sql, params = orm.query.sql_with_params()
    assert compiled == (sql, list(params))


def test_a_nurse_taken_off_the_location_gets_404_from_the_compiled_look_up(
    location, nurse, session
):
    """The cache holds SQL, not answers: the staff-locations subquery is read at each request.
    A nurse whose location is removed after her first reading gets 404 and a `denied` event."""
    infusing(nurse, session)
    client = api_client(nurse)
    assert _post(client, session).status_code == 201
    readings = VitalSign.objects.filter(session=session).count()
    nurse.locations.clear()
    denied_before = AuditEvent.objects.filter(action=AuditAction.DENIED).count()
    response = _post(client, session)
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.DENIED).count() == denied_before + 1
    assert VitalSign.objects.filter(session=session).count() == readings


def test_an_inactive_nurse_is_not_served_by_the_active_nurses_compiled_look_up(
    location, nurse, session
):
    """The cache is keyed by role and active flag: a deactivated account is never handed the SQL
    compiled for active nurses."""
    infusing(nurse, session)
    assert selectors.session_get_for_user(user=nurse, session_id=session.pk, related=()) == session
    nurse.is_active = False
    nurse.save(update_fields=["is_active"])
    with pytest.raises(Http404):
        selectors.session_get_for_user(user=nurse, session_id=session.pk, related=())


def test_compiled_baseline_and_signs_follow_the_rows(nurse, session):
    """MON-T1: the baseline is the latest pre-infusion reading; MON-BP-4 / MON-X-1: unresolved
    symptoms and side effects are the signs present — read through the compiled SQL, on each
    call."""
    assert selectors.baseline_reading(session) is None
    assert selectors.active_signs(session) == []
    infusing(nurse, session)
    pre = session.vitals.filter(phase="pre").order_by("-taken_at", "-pk").first()
    assert pre is not None
    assert selectors.baseline_reading(session) == pre
    assert selectors.baseline_reading(session).systolic_mmhg == pre.systolic_mmhg
    Symptom.objects.create(
        session=session, code="chest_pain", observed_at=timezone.now(), recorded_by=nurse
    )
    assert selectors.active_signs(session) == ["chest_pain"]
    Symptom.objects.filter(session=session).update(resolved_at=timezone.now())
    assert selectors.active_signs(session) == []
