"""CS-13: the written notice of a theft or significant loss is due within 1 business day of
discovery. Business days skip weekends, the US federal holidays with their observed days, and the
clinic's `CONTROLLED_EXTRA_CLOSED_DAYS`."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured

from infusionclinic.controlled import compliance
from infusionclinic.controlled.business_days import (
    federal_holiday,
    is_business_day,
    next_business_day,
)

from .factories import receive

# The 11 federal holidays of 2026 (5 U.S.C. 6103) as observed: Independence Day falls on a
# Saturday, so the Friday before is the day off.
FEDERAL_2026 = [
    date(2026, 1, 1),  # New Year's Day
    date(2026, 1, 19),  # Martin Luther King Jr. Day, 3rd Monday of January
    date(2026, 2, 16),  # Washington's Birthday, 3rd Monday of February
    date(2026, 5, 25),  # Memorial Day, last Monday of May
    date(2026, 6, 19),  # Juneteenth
    date(2026, 7, 3),  # Independence Day (Saturday) observed on Friday
    date(2026, 9, 7),  # Labor Day, 1st Monday of September
    date(2026, 10, 12),  # Columbus Day, 2nd Monday of October
    date(2026, 11, 11),  # Veterans Day
    date(2026, 11, 26),  # Thanksgiving, 4th Thursday of November
    date(2026, 12, 25),  # Christmas Day
]


@pytest.mark.parametrize("day", FEDERAL_2026, ids=str)
def test_cs13_federal_holidays_of_2026_are_not_business_days(day):
    assert federal_holiday(day)
    assert not is_business_day(day)


def test_cs13_ordinary_weekdays_are_business_days_and_weekends_are_not():
    assert is_business_day(date(2026, 11, 24))  # Tuesday
    assert is_business_day(date(2026, 11, 27))  # the Friday after Thanksgiving: not federal
    assert not is_business_day(date(2026, 11, 28))  # Saturday
    assert not is_business_day(date(2026, 11, 29))  # Sunday


@pytest.mark.parametrize(
    ("discovered", "due", "why"),
    [
        (date(2026, 11, 20), date(2026, 11, 23), "Friday: the weekend is skipped"),
        (date(2026, 11, 25), date(2026, 11, 27), "Wednesday before Thanksgiving: Friday"),
        (date(2026, 11, 26), date(2026, 11, 27), "found on Thanksgiving: Friday"),
        (date(2027, 12, 23), date(2027, 12, 27), "Christmas 2027 on Saturday, off on Friday 24"),
        (date(2027, 12, 30), date(2028, 1, 3), "New Year 2028 on Saturday, off on Friday 31"),
        (date(2022, 12, 23), date(2022, 12, 27), "Christmas 2022 on Sunday, off on Monday 26"),
        (date(2026, 7, 2), date(2026, 7, 6), "July 4th 2026 on Saturday, off on Friday 3"),
        (date(2027, 1, 15), date(2027, 1, 19), "Friday before Martin Luther King Jr. Day"),
        (date(2028, 11, 9), date(2028, 11, 13), "Veterans Day 2028 on Saturday, off Friday 10"),
    ],
)
def test_cs13_next_business_day_skips_weekends_and_federal_holidays(discovered, due, why):
    assert next_business_day(discovered) == due, why


def test_cs13_extra_closed_days_setting_is_skipped_too(settings):
    assert next_business_day(date(2026, 11, 25)) == date(2026, 11, 27)
    settings.CONTROLLED_EXTRA_CLOSED_DAYS = ["2026-11-27"]  # a state's day after Thanksgiving
    assert not is_business_day(date(2026, 11, 27))
    assert next_business_day(date(2026, 11, 25)) == date(2026, 11, 30)


def test_cs13_extra_closed_days_must_be_iso_dates(settings):
    settings.CONTROLLED_EXTRA_CLOSED_DAYS = ["27/11/2026"]
    with pytest.raises(ImproperlyConfigured, match="ISO date"):
        is_business_day(date(2026, 11, 27))


@pytest.mark.django_db
def test_cs13_loss_report_notice_due_skips_thanksgiving(nurse, location, ketamine, settings):
    tz = ZoneInfo(location.timezone)
    lot = receive(nurse, location, ketamine).lot
    report = compliance.loss_report_open(
        actor=nurse,
        location=location,
        discovered_at=datetime(2025, 11, 26, 17, 0, tzinfo=tz),  # the day before Thanksgiving
        loss_type="other",
        circumstances="vial missing at the evening count",
        lines=[(lot, "1.00")],
    )
    due = compliance.loss_deadlines(report).notice_due.astimezone(tz)
    assert due.date() == date(2025, 11, 28)
    settings.CONTROLLED_EXTRA_CLOSED_DAYS = ["2025-11-28"]
    assert compliance.notice_due(report).astimezone(tz).date() == date(2025, 12, 1)
