"""Proposing a series of infusions: a pure function of dates, times and the location's calendar
(no database), so it can be tested across holidays and daylight-saving changes directly."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# How many days a slot may be pushed forward past holidays and closed days before giving up.
MAX_SHIFT_DAYS = 14


class SeriesError(ValueError):
    pass


def series_propose(
    *,
    first_date: date,
    count: int,
    interval_days: int,
    preferred_time: time,
    tz: ZoneInfo,
    opening_hours: Mapping[int, tuple[time, time]],
    holidays: Collection[date] = (),
    length: timedelta,
    preferred_weekday: int | None = None,
    min_spacing: timedelta = timedelta(hours=48),
) -> list[datetime]:
    """Start times (aware, in `tz`; computed in UTC) for `count` appointments, nominally every
    `interval_days` from `first_date` (moved to `preferred_weekday` if given) at the local
    wall-clock `preferred_time`. A date that is a holiday, a closed weekday, or on which the
    appointment would not fit the opening hours moves to the next open day; later dates are
    counted from the nominal schedule but never fall closer than `min_spacing` (PROT-12) to
    the previous one.

    Local time is kept across daylight-saving changes: 10:00 stays 10:00 on the wall clock (the
    UTC instant moves). A wall-clock time that does not exist that day (spring-forward gap) or
    happens twice (fall-back) is resolved with `fold=0`, i.e. the first reading."""
    if count < 1:
        raise SeriesError("Propose at least one appointment.")
    if interval_days < 1:
        raise SeriesError("The interval must be at least one day.")
    start = first_date
    if preferred_weekday is not None:
        start += timedelta(days=(preferred_weekday - start.weekday()) % 7)
    holiday_set = set(holidays)
    proposals: list[datetime] = []
    for index in range(count):
        day = start + timedelta(days=index * interval_days)
        if proposals:
            earliest = proposals[-1] + min_spacing
            while _at(day, preferred_time, tz) < earliest:
                day += timedelta(days=1)
        for _ in range(MAX_SHIFT_DAYS + 1):
            if _fits(day, preferred_time, tz, opening_hours, holiday_set, length):
                break
            day += timedelta(days=1)
        else:
            raise SeriesError(
                f"No open day for appointment {index + 1} within {MAX_SHIFT_DAYS} days of "
                f"{day - timedelta(days=MAX_SHIFT_DAYS + 1)}."
            )
        proposals.append(_at(day, preferred_time, tz))
    return [moment.astimezone(tz) for moment in proposals]


def _at(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The instant, in UTC: arithmetic and comparison on datetimes sharing one ZoneInfo would be
    wall-clock arithmetic and go wrong by an hour across a daylight-saving change."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _fits(
    day: date,
    at: time,
    tz: ZoneInfo,
    opening_hours: Mapping[int, tuple[time, time]],
    holidays: set[date],
    length: timedelta,
) -> bool:
    if day in holidays or day.weekday() not in opening_hours:
        return False
    opens, closes = opening_hours[day.weekday()]
    starts = _at(day, at, tz)
    return _at(day, opens, tz) <= starts and starts + length <= _at(day, closes, tz)
