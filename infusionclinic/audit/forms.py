from django import forms

from .models import AuditAction
from .selectors import SORT_FIELDS


class DateInput(forms.DateInput):
    input_type = "date"


class AuditFilterForm(forms.Form):
    user = forms.EmailField(required=False, label="User email")
    patient = forms.CharField(required=False, max_length=16, label="Patient MRN")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *AuditAction.choices])
    date_from = forms.DateField(required=False, widget=DateInput, label="From (UTC date)")
    date_to = forms.DateField(required=False, widget=DateInput, label="To (UTC date)")
    sort = forms.ChoiceField(
        required=False,
        choices=[
            (f"{d}{k}", f"{k} {'descending' if d else 'ascending'}")
            for k in SORT_FIELDS
            for d in ("", "-")
        ],
        widget=forms.HiddenInput,
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data
