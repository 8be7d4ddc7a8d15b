from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.core.exceptions import ValidationError

from infusionclinic.common.formfields import EdgeDateField, EdgeIntegerField

MAX_RANGE_DAYS = 732  # two years: a bounded amount of work per request


class DateInput(forms.DateInput):
    input_type = "date"


class AnalyticsFilterForm(forms.Form):
    date_from = EdgeDateField(label="From", widget=DateInput)
    date_to = EdgeDateField(label="To", widget=DateInput)
    # A number, not a choice: a location that is not the admin's answers 404 (selectors), like
    # any other record the user may not see.
    location = EdgeIntegerField(required=False, min_value=1)

    def __init__(self, *args: object, locations=(), **kwargs: object) -> None:  # noqa: ANN001
        super().__init__(*args, **kwargs)
        self.fields["location"].widget = forms.Select(
            choices=[("", "All my locations")] + [(loc.pk, loc.name) for loc in locations]
        )

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if end < start:
                raise ValidationError("The end date is before the start date.")
            if end - start > timedelta(days=MAX_RANGE_DAYS):
                raise ValidationError(f"Choose at most {MAX_RANGE_DAYS} days.")
        return data


def default_range(today: date) -> tuple[date, date]:
    """The last 12 full weeks up to today."""
    return today - timedelta(days=today.weekday() + 7 * 11), today
