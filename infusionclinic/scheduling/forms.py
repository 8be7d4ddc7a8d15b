from django import forms
from django.conf import settings

from infusionclinic.patients.forms import DateInput


class TimeInput(forms.TimeInput):
    input_type = "time"


class MoveForm(forms.Form):
    date = forms.DateField(widget=DateInput, label="New date")
    time = forms.TimeField(widget=TimeInput, label="New start time (local)")


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=500)
    no_show = forms.BooleanField(required=False, label="The patient did not come (no-show)")


class SeriesForm(forms.Form):
    location = forms.ModelChoiceField(queryset=None, empty_label=None)
    first_date = forms.DateField(widget=DateInput, label="First infusion on or after")
    preferred_time = forms.TimeField(widget=TimeInput, label="Preferred start time (local)")
    preferred_weekday = forms.TypedChoiceField(
        choices=[("", "Any")]
        + list(
            enumerate(
                ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
            )
        ),
        coerce=int,
        empty_value=None,
        required=False,
    )
    # PROT-10: defaults from settings (clinic default 3 infusions, every 7 days).
    count = forms.IntegerField(min_value=1, max_value=52, label="Number of infusions")
    interval_days = forms.IntegerField(min_value=1, max_value=365, label="Every (days)")

    def __init__(self, *args: object, locations: object, **kwargs: object) -> None:
        if not kwargs.get("initial"):
            kwargs["initial"] = {
                "count": settings.SCHEDULING_INDUCTION_COUNT,
                "interval_days": settings.SCHEDULING_INDUCTION_INTERVAL_DAYS,
            }
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["location"].queryset = locations  # type: ignore[attr-defined]


class PortalBookForm(forms.Form):
    type = forms.ChoiceField(
        choices=[("consultation", "Consultation"), ("follow_up", "Follow-up")],
        label="Appointment type",
    )
    date = forms.DateField(widget=DateInput)


class SafetyForm(forms.Form):
    fasting = forms.BooleanField(required=False, label="I will follow the fasting instructions")
    escort_name = forms.CharField(max_length=200, required=False, label="Escort's name")
    escort_phone = forms.CharField(max_length=32, required=False, label="Escort's phone number")
    no_driving = forms.BooleanField(
        required=False, label="I will not drive or operate machinery until the next day"
    )
