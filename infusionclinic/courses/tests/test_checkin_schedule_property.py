"""Issue 18 "Done when": hypothesis on the check-in schedule across DST changes and time zones —
the worker, however often it runs, creates each period's check-in exactly once, at 09:00 local
(CHECKINS_DUE_LOCAL_TIME) on its day, and skips none."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from django.conf import settings
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from infusionclinic.courses.checkins import _current_due_on, checkin_due_at

# Zones with DST in either hemisphere, half-hour offsets and none at all.
ZONES = [
    "America/New_York",
    "America/Denver",
    "America/Phoenix",
    "Europe/London",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "America/St_Johns",
    "UTC",
]


def _course(zone: str, started: datetime) -> SimpleNamespace:
    location = SimpleNamespace(tzinfo=ZoneInfo(zone))
    return SimpleNamespace(
        patient=SimpleNamespace(home_location=location), phase_started_at=started
    )


@hsettings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    # hypothesis takes naive bounds and attaches the zone itself.
    started=st.datetimes(
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001
        max_value=datetime(2027, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    every_days=st.sampled_from([7, 14]),
    # The worker's runs: gaps of a minute to two days, over about five months.
    gaps=st.lists(st.integers(min_value=1, max_value=48 * 60), min_size=1, max_size=150),
)
def test_each_period_is_created_once_at_0900_local_and_none_is_skipped(
    zone, started, every_days, gaps
):
    course = _course(zone, started)
    tz = ZoneInfo(zone)
    hours, minutes = (int(p) for p in settings.CHECKINS_DUE_LOCAL_TIME.split(":"))
    now = started
    created: list[date] = []
    for gap in gaps:
        now += timedelta(minutes=gap)
        due_on = _current_due_on(course, every_days, now)
        if due_on is not None and (not created or created[-1] != due_on):
            created.append(due_on)  # get_or_create: a repeat of the same day adds nothing
    # Never two of the same check-in; periods in order.
    assert created == sorted(set(created))
    anchor = started.astimezone(tz).date()
    expected = []
    k = 1
    while True:
        due_on = anchor + timedelta(days=k * every_days)
        if checkin_due_at(course=course, due_on=due_on) > now:
            break
        expected.append(due_on)
        k += 1
    # None skipped: the worker ran at least every two days, more often than a period lasts.
    assert created == expected
    for due_on in created:
        local = checkin_due_at(course=course, due_on=due_on).astimezone(tz)
        assert (local.date(), local.hour, local.minute) == (due_on, hours, minutes)
