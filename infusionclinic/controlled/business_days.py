"""Business days for the CS-13 deadline: the written notice of a theft or significant loss is due
at the DEA Field Division Office within 1 business day of discovery. A business day is a weekday
that is neither a US federal holiday (the `holidays` package: the 11 federal holidays with their
observed days — a Saturday holiday is observed on the Friday before, a Sunday one on the Monday
after) nor a day listed in `CONTROLLED_EXTRA_CLOSED_DAYS` (state holidays, clinic closures)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

from . import conf


@lru_cache(maxsize=64)
def _federal(year: int) -> frozenset[date]:
    # "public" is the federal list; observed days are included (e.g. 2021-12-31 for 2022-01-01).
    return frozenset(holidays.country_holidays("US", years=year, categories=("public",)).keys())


def federal_holiday(day: date) -> bool:
    return day in _federal(day.year)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and not federal_holiday(day) and day not in conf.extra_closed_days()


def next_business_day(day: date) -> date:
    """The first business day strictly after `day`."""
    day += timedelta(days=1)
    for _ in range(366):  # a list of closed days cannot make the deadline run forever
        if is_business_day(day):
            return day
        day += timedelta(days=1)
    raise ValueError("No business day within a year: check CONTROLLED_EXTRA_CLOSED_DAYS.")
