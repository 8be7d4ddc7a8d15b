from django import forms
from django.conf import settings

from infusionclinic.common.formfields import EdgeDateField, EdgeIntegerField
from infusionclinic.patients.forms import DateInput

from .models import AppointmentKind, Chair


class TimeInput(forms.TimeInput):
    input_type = "time"


class MoveForm(forms.Form):
    date = EdgeDateField(widget=DateInput, label="New date")
    time = forms.TimeField(widget=TimeInput, label="New start time (local)")


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=500)
    no_show = forms.BooleanField(required=False, label="The patient did not come (no-show)")


class SeriesForm(forms.Form):
    location = forms.ModelChoiceField(queryset=None, empty_label=None)
    first_date = EdgeDateField(widget=DateInput, label="First infusion on or after")
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
    count = EdgeIntegerField(min_value=1, max_value=52, label="Number of infusions")
    interval_days = EdgeIntegerField(min_value=1, max_value=365, label="Every (days)")

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
    date = EdgeDateField(widget=DateInput)


class SafetyForm(forms.Form):
    fasting = forms.BooleanField(required=False, label="I will follow the fasting instructions")
    escort_name = forms.CharField(max_length=200, required=False, label="Escort's name")
    escort_phone = forms.CharField(max_length=32, required=False, label="Escort's phone number")
    no_driving = forms.BooleanField(
        required=False, label="I will not drive or operate machinery until the next day"
    )


class VisitForm(forms.Form):
    """One visit booked by staff (issue 21 point 2): a consultation, a follow-up or a single
    infusion, at a location the user works at. Times are local to the location."""

    kind = forms.ChoiceField(label="Type of visit", choices=())
    location = forms.ModelChoiceField(queryset=None, empty_label=None)
    chair = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="No chair (an infusion gets the first free one)",
        help_text="Infusions need a chair; consultations and follow-ups usually have none.",
    )
    date = EdgeDateField(widget=DateInput)
    time = forms.TimeField(widget=TimeInput, label="Start time (local)")

    def __init__(self, *args: object, locations: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["kind"].choices = AppointmentKind.choices  # type: ignore[attr-defined]
        self.fields["location"].queryset = locations  # type: ignore[attr-defined]
        chairs = Chair.objects.filter(location__in=locations, active=True).select_related(
            "location"
        )
        self.fields["chair"].queryset = chairs.order_by("location__name", "name")  # type: ignore[attr-defined]
        self.fields["chair"].label_from_instance = (  # type: ignore[attr-defined]
            lambda chair: f"{chair.name} ({chair.location.name})"
        )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        chair, location = data.get("chair"), data.get("location")
        if chair is not None and location is not None and chair.location_id != location.pk:
            self.add_error("chair", f"{chair.name} is not at {location.name}.")
        return data
