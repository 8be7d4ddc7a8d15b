"""Bounds for every number and date at the edge (issue 22 point 5): one place that says which
dates and magnitudes a form or the API accepts, so a typo (2200, 0403, 1e308) is a clear 422 or
form error instead of an overflow deep in a service, the database or the time-zone rules.

Not clinical: plausibility of a measurement stays with its own rule or setting
(PATIENT_WEIGHT_*, PATIENT_HEIGHT_*); these bounds only keep values representable."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

# The largest integer the databases store (BIGINT; SQLite's INTEGER is 64-bit signed too). An id
# or a count above it overflows in the driver ("Python int too large to convert").
DB_INT_MAX = 2**63 - 1
# A magnitude no quantity typed here comes near (mL, mg, kg, USD, minutes); Decimal arithmetic
# and quantize to 0.001 stay within the 28-digit context below it.
DECIMAL_MAGNITUDE_MAX = Decimal("1000000000")


def input_date_min() -> date:
    return date.fromisoformat(settings.INPUT_DATE_MIN)


def input_date_max(today: date | None = None) -> date:
    today = today or timezone.localdate()
    years = int(settings.INPUT_DATE_YEARS_AHEAD)
    try:
        return today.replace(year=today.year + years)
    except ValueError:  # 29 February
        return today.replace(year=today.year + years, day=28)


def date_problem(value: date) -> str | None:
    """Why `value` (a date, or the date a datetime was written with) is refused, or None."""
    day = value.date() if isinstance(value, datetime) else value
    low, high = input_date_min(), input_date_max()
    if day < low:
        return f"Enter a date on or after {low.isoformat()}."
    if day > high:
        years = settings.INPUT_DATE_YEARS_AHEAD
        return f"Enter a date on or before {high.isoformat()} (at most {years} years ahead)."
    return None


def date_from_text(text: str) -> date:
    """An ISO date typed in a URL or query string, within the window; ValueError otherwise (the
    views answer it as they answer an unparseable date)."""
    value = date.fromisoformat(text)
    problem = date_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def datetime_from_text(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    problem = date_problem(value)
    if problem:
        raise ValueError(problem)
    return value
