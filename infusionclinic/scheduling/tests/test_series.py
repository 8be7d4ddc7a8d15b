"""The series proposal is a pure function: tested directly across holidays and DST changes."""

from datetime import UTC, date, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infusionclinic.scheduling.series import SeriesError, series_propose

NY = ZoneInfo("America/New_York")
WEEKDAYS_8_TO_18 = {d: (time(8), time(18)) for d in range(5)}
TWO_HOURS = timedelta(hours=2)


def propose(**kwargs):
    defaults = {
        "count": 3,
        "interval_days": 7,
        "preferred_time": time(10),
        "tz": NY,
        "opening_hours": WEEKDAYS_8_TO_18,
        "length": TWO_HOURS,
    }
    return series_propose(**{**defaults, **kwargs})


def test_prot10_induction_series_across_dst_keeps_local_ten_oclock():
    # US DST starts Sunday 2027-03-14: the Mondays before and after differ in UTC offset.
    starts = propose(first_date=date(2027, 3, 8))
    assert [s.date() for s in starts] == [date(2027, 3, 8), date(2027, 3, 15), date(2027, 3, 22)]
    assert all(s.astimezone(NY).time() == time(10) for s in starts)
    assert [s.astimezone(UTC).hour for s in starts] == [15, 14, 14]


def test_series_across_fall_back_keeps_local_time():
    starts = propose(first_date=date(2027, 11, 1), count=2)  # DST ends 2027-11-07
    assert [s.astimezone(UTC).hour for s in starts] == [14, 15]
    assert all(s.astimezone(NY).time() == time(10) for s in starts)


def test_holiday_moves_that_infusion_to_next_open_day_and_keeps_the_rest():
    starts = propose(first_date=date(2027, 3, 8), holidays={date(2027, 3, 15)})
    assert [s.date() for s in starts] == [date(2027, 3, 8), date(2027, 3, 16), date(2027, 3, 22)]


def test_closed_weekend_skipped_and_preferred_weekday_used():
    # 2027-03-06 is a Saturday; preferred Wednesday (2).
    starts = propose(first_date=date(2027, 3, 6), preferred_weekday=2)
    assert [s.weekday() for s in starts] == [2, 2, 2]
    assert starts[0].date() == date(2027, 3, 10)


def test_appointment_that_would_run_past_closing_is_not_proposed():
    # 17:00 + 2 h > 18:00 on every open day: refused, never shortened.
    with pytest.raises(SeriesError):
        propose(first_date=date(2027, 3, 8), preferred_time=time(17), count=1)


def test_prot12_minimum_spacing_holds_when_a_holiday_pushes_an_infusion():
    # 3x/week (Mon, Wed, Fri nominal, interval 2): a Wednesday holiday pushes to Thursday, and
    # Friday would then be 24 h after: it moves to the following open day (Monday).
    starts = propose(
        first_date=date(2027, 3, 8), interval_days=2, holidays={date(2027, 3, 10)}, count=3
    )
    assert [s.date() for s in starts] == [date(2027, 3, 8), date(2027, 3, 11), date(2027, 3, 15)]
    assert all(b - a >= timedelta(hours=48) for a, b in zip(starts, starts[1:], strict=False))


@settings(max_examples=50, deadline=None)
@given(
    first=st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)),
    count=st.integers(min_value=1, max_value=8),
    interval=st.integers(min_value=2, max_value=35),
    hour=st.integers(min_value=8, max_value=15),
)
def test_every_proposal_is_open_local_time_and_prot12_spaced(first, count, interval, hour):
    starts = propose(
        first_date=first, count=count, interval_days=interval, preferred_time=time(hour)
    )
    assert len(starts) == count
    for start in starts:
        assert start.astimezone(NY).time() == time(hour)
        assert start.astimezone(NY).weekday() < 5
    assert all(b - a >= timedelta(hours=48) for a, b in zip(starts, starts[1:], strict=False))
