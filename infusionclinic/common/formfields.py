"""Form fields bounded at the edge (issue 22 point 5): every date, integer and decimal a page
accepts is kept within common.bounds, so a typo (year 2200 or 0403, 1e308, a 30-digit id) is a
field error instead of an overflow in a service or the database. A field's own tighter bounds
(min_value, max_value, max_digits) still apply; clinical ranges stay with their rules."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from .bounds import DB_INT_MAX, DECIMAL_MAGNITUDE_MAX, date_problem


def _date_in_window(value: date | None) -> None:
    if value is None:
        return
    problem = date_problem(value)
    if problem:
        raise ValidationError(problem, code="date_range")


class EdgeDateField(forms.DateField):
    default_validators = [_date_in_window]


class EdgeDateTimeField(forms.DateTimeField):
    default_validators = [_date_in_window]


class EdgeIntegerField(forms.IntegerField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", -DB_INT_MAX)
        kwargs.setdefault("max_value", DB_INT_MAX)
        super().__init__(*args, **kwargs)


class EdgeDecimalField(forms.DecimalField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", -DECIMAL_MAGNITUDE_MAX)
        kwargs.setdefault("max_value", DECIMAL_MAGNITUDE_MAX)
        super().__init__(*args, **kwargs)


EDGE_FIELDS = (EdgeDateField, EdgeDateTimeField, EdgeIntegerField, EdgeDecimalField)
