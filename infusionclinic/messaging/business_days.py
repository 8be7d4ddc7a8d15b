"""When a patient's message counts as unanswered for more than one business day (issue 18
section 3: the staff inbox highlights it).

A business day is a weekday that is neither a US federal holiday (the `holidays` package, read
through `controlled.business_days.federal_holiday`, with observed days) nor a closed day of the
location in the scheduling app (`scheduling.Holiday`). Days are the location's local days.

The clock starts when the patient wrote, or, on a closed day, at the start of the next business
day; one business day later (same local time on the next business day) the thread is overdue.
Friday 15:00 → Monday 15:00; Saturday → Tuesday 00:00."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from infusionclinic.controlled.business_days import federal_holiday


def is_business_day(day: date, closed: Collection[date] = ()) -> bool:
    return day.weekday() < 5 and not federal_holiday(day) and day not in closed


def _next_business_day(day: date, closed: Collection[date]) -> date:
    day += timedelta(days=1)
    for _ in range(366):
        if is_business_day(day, closed):
            return day
        day += timedelta(days=1)
    raise ValueError("No business day within a year: check the location's holidays.")


def answer_due_at(since: datetime, *, tz: ZoneInfo, closed: Collection[date] = ()) -> datetime:
    """The aware instant after which a message written at `since` is overdue."""
    local = since.astimezone(tz)
    if is_business_day(local.date(), closed):
        start_day, start_time = local.date(), local.time().replace(tzinfo=None)
    else:
        start_day, start_time = _next_business_day(local.date(), closed), time(0, 0)
    due_day = _next_business_day(start_day, closed)
    return datetime.combine(due_day, start_time, tzinfo=tz)


def is_overdue(
    since: datetime | None, *, now: datetime, tz: ZoneInfo, closed: Collection[date] = ()
) -> bool:
    return since is not None and now > answer_due_at(since, tz=tz, closed=closed)
