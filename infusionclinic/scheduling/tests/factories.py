"""Builders for scheduling tests: a location open every day with chairs and staff on shift."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.scheduling.models import Chair, OpeningHours, StaffShift
from tests.factories import make_user


def open_every_day(location: Location, opens: time = time(8), closes: time = time(18)) -> None:
    for weekday in range(7):
        OpeningHours.objects.create(
            location=location, weekday=weekday, opens_at=opens, closes_at=closes
        )


def on_shift(user: User, location: Location, days: int = 400) -> StaffShift:
    """One long shift from yesterday for `days` days: tests that are not about shifts."""
    now = timezone.now()
    return StaffShift.objects.create(
        user=user,
        location=location,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=days),
    )


def staffed_location(location: Location, *, chairs: int = 2, nurses: int = 1) -> list[Chair]:
    open_every_day(location)
    on_shift(make_user("prescriber", location), location)
    for _ in range(nurses):
        on_shift(make_user("nurse", location), location)
    return [
        Chair.objects.create(location=location, name=f"Chair {n}") for n in range(1, chairs + 1)
    ]


def local(location: Location, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=location.tzinfo)


def future_day(days: int = 10) -> date:
    return timezone.localdate() + timedelta(days=days)
