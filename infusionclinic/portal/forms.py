from __future__ import annotations

from datetime import datetime

from django import forms
from django.utils import timezone

from infusionclinic.common.formfields import EdgeDateField


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Why are you cancelling?", max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )
    fee_accepted = forms.BooleanField(label="I accept the late-cancellation fee", required=False)


class RescheduleDayForm(forms.Form):
    date = EdgeDateField(label="Day", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: object, tz: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.tz = tz

    def clean_date(self):  # type: ignore[no-untyped-def]
        day = self.cleaned_data["date"]
        if day < timezone.localdate(timezone=self.tz):  # type: ignore[arg-type]
            raise forms.ValidationError("Choose today or a later day.")
        return day


class RescheduleForm(forms.Form):
    """One of the times offered for the day (the choices), as an ISO time with its offset."""

    starts_at = forms.TypedChoiceField(
        label="New time", widget=forms.RadioSelect, coerce=datetime.fromisoformat
    )

    def __init__(self, *args: object, slots: list[datetime], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["starts_at"].choices = [  # type: ignore[attr-defined]
            (slot.isoformat(), f"{slot:%H:%M}") for slot in slots
        ]
