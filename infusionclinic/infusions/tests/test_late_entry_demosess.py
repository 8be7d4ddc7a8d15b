"""Records entered late (issue 21 point 1, the demo's history): the session's steps take a past
time (`at=`), never one ahead of now."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from infusionclinic.infusions import services

pytestmark = pytest.mark.django_db


def _check_in(nurse, session, at):  # noqa: ANN001, ANN202
    return services.session_check_in(
        actor=nurse,
        session=session,
        identity_confirmed=True,
        escort_name="Alex Escort",
        escort_phone="555-010-0199",
        at=at,
    )


def test_check_in_takes_the_time_it_happened_and_a_reading_follows_it(nurse, session):
    earlier = timezone.now() - timedelta(days=3)
    checked = _check_in(nurse, session, earlier)
    assert checked.checked_in_at == earlier
    services.vital_record(
        actor=nurse,
        session=session,
        taken_at=earlier + timedelta(minutes=5),
        systolic_mmhg=120,
        diastolic_mmhg=75,
        heart_rate_bpm=72,
        spo2_pct=98,
        respiratory_rate=14,
    )
    assert session.vitals.get().taken_at == earlier + timedelta(minutes=5)


def test_a_time_ahead_of_now_is_refused(nurse, session):
    with pytest.raises(ValidationError) as exc:
        _check_in(nurse, session, timezone.now() + timedelta(hours=1))
    assert "at" in exc.value.message_dict
    session.refresh_from_db()
    assert session.state == "scheduled"
