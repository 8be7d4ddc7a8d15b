"""Forms of the session page: each parses one action's input for one service."""

from django import forms
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Role
from infusionclinic.common.formfields import EdgeDateTimeField, EdgeDecimalField, EdgeIntegerField

from . import rules
from .models import PregnancyTest, VerbalOrderKind


class LocalDateTimeInput(forms.DateTimeInput):
    """A browser date-and-time picker; the session page reads it in the location's time zone."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class CheckInForm(forms.Form):
    identity_confirmed = forms.BooleanField(
        required=False, label="Identity confirmed (name and date of birth)"
    )
    escort_name = forms.CharField(max_length=200, required=False, label="Escort's name (PRE-5)")
    escort_phone = forms.CharField(max_length=32, required=False, label="Escort's phone (PRE-5)")


class PreCheckForm(forms.Form):
    fasting_confirmed = forms.BooleanField(
        required=False, label="Fasting confirmed: no solids 6 h, clear liquids 2 h (PRE-4)"
    )
    pregnancy_test = forms.ChoiceField(
        choices=[("", "—"), *PregnancyTest.choices], required=False, label="Pregnancy test (PRE-2)"
    )
    weight_kg = EdgeDecimalField(label="Today's weight (kg)", max_digits=5, decimal_places=1)


class VitalsForm(forms.Form):
    systolic_mmhg = EdgeIntegerField(label="Systolic (mmHg)")
    diastolic_mmhg = EdgeIntegerField(label="Diastolic (mmHg)")
    heart_rate_bpm = EdgeIntegerField(label="Heart rate (/min)")
    spo2_pct = EdgeIntegerField(label="SpO2 (%)")
    respiratory_rate = EdgeIntegerField(label="Respiratory rate (/min)")
    sedation = forms.TypedChoiceField(
        label="MOAA/S (MON-3)",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—"), *[(i, str(i)) for i in range(5, -1, -1)]],
    )
    dissociation = forms.TypedChoiceField(
        label="Dissociation (MON-CADSS clinician rating)",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—"), (0, "0 none"), (1, "1 mild"), (2, "2 moderate"), (3, "3 severe")],
    )
    # Issue 21 point 12: a reading entered late keeps the time it was taken (the location's
    # local time; the page names the zone). Empty: now.
    taken_at = EdgeDateTimeField(
        required=False,
        widget=LocalDateTimeInput,
        label="Time taken",
        help_text="Leave empty if taken just now.",
    )

    def values(self) -> dict:
        return {
            **self.cleaned_data,
            "taken_at": self.cleaned_data.get("taken_at") or timezone.now(),
        }


class OverrideForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Override reason")


class PumpForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("start", "start"), ("pause", "pause"), ("resume", "resume"), ("stop", "stop")]
    )
    reason = forms.CharField(max_length=500, required=False)
    # Issue 21 point 5: required by the service when the stop comes before the ordered time.
    stop_reason = forms.ChoiceField(required=False, label="Stopped early because")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stop_reason"].choices = [
            ("", "—"),
            *[(r.code, r.label) for r in rules.early_stop_reasons().values()],
        ]


class AcknowledgeForm(forms.Form):
    alert_id = EdgeIntegerField(widget=forms.HiddenInput)
    note = forms.CharField(max_length=500, required=False, label="Action taken")


class SideEffectForm(forms.Form):
    code = forms.ChoiceField(label="Side effect")
    grade = forms.TypedChoiceField(
        coerce=int,
        choices=[(1, "1 mild"), (2, "2 moderate"), (3, "3 severe")],
        label="Grade",
    )
    note = forms.CharField(max_length=500, required=False, label="Note")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_side_effect_%s")  # issue 21 point 10: unique ids
        super().__init__(*args, **kwargs)
        self.fields["code"].choices = [
            (code, f"{code} {name}") for code, name in rules.side_effect_catalogue().items()
        ]


class SymptomForm(forms.Form):
    """A warning sign (MON-BP-4, MON-X-1): recording it raises its alert."""

    code = forms.ChoiceField(label="Warning sign")
    note = forms.CharField(max_length=500, required=False, label="Observation")

    def __init__(self, *args, **kwargs):
        # Issue 21 point 10: the side-effect form on the same page has `code` and `note` too;
        # ids of their own so each <label for> names this form's select and note.
        kwargs.setdefault("auto_id", "id_symptom_%s")
        super().__init__(*args, **kwargs)
        self.fields["code"].choices = [
            (sign.id, f"{sign.name} ({sign.rule_id})") for sign in rules.warning_signs().values()
        ]


class SymptomResolveForm(forms.Form):
    symptom_id = EdgeIntegerField(widget=forms.HiddenInput)


class ResolveForm(forms.Form):
    effect_id = EdgeIntegerField(widget=forms.HiddenInput)


class ScoreForm(forms.Form):
    """DIS-1 modified Aldrete and DIS-2 PADSS, five items each; each criterion and option shown
    in words from data/discharge_scores.json (issue 21 point 10)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for scale in rules.discharge_scales().values():
            for item in scale.items:
                self.fields[f"{scale.id}_{item.id}"] = forms.TypedChoiceField(
                    coerce=int,
                    choices=[(score, f"{score} — {words}") for score, words in item.options],
                    label=f"{scale.name} ({scale.rule_id}): {item.name}",
                )
        self.fields["voiding_not_required"] = forms.BooleanField(
            required=False, label="Voiding not required (DIS-4)"
        )

    def values(self) -> dict:
        data = self.cleaned_data
        return {
            "aldrete": {n: data[f"aldrete_{n}"] for n in rules.ALDRETE_ITEMS},
            "padss": {n: data[f"padss_{n}"] for n in rules.PADSS_ITEMS},
            "voiding_not_required": data["voiding_not_required"],
        }


class DischargeForm(forms.Form):
    escort_name = forms.CharField(max_length=200, label="Leaves with (escort's name)")


class CancelForm(forms.Form):
    no_show = forms.BooleanField(required=False, label="No-show")
    reason = forms.CharField(max_length=500)


class EmptyForm(forms.Form):
    pass


class AmendForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    reason = forms.CharField(max_length=500)


class VerbalOrderForm(forms.Form):
    """MON-BP-3, issue 21 point 4: the prescriber's verbal or telephone order to resume."""

    prescriber = forms.ModelChoiceField(
        queryset=User.objects.filter(role=Role.PRESCRIBER, is_active=True),
        label="Prescriber who gave the order",
    )
    kind = forms.ChoiceField(choices=VerbalOrderKind.choices, label="Order given")
    given_at = EdgeDateTimeField(
        required=False,
        widget=LocalDateTimeInput,
        label="When the order was given",
        help_text="Leave empty for now.",
    )
    instruction = forms.CharField(
        max_length=500, required=False, label="Order as given (e.g. resume at the ordered rate)"
    )
    read_back = forms.BooleanField(
        required=False, label="I read the order back to the prescriber, who confirmed it"
    )


class CosignForm(forms.Form):
    """The prescriber co-signs a verbal order, re-entering the password (or a TOTP code)."""

    verbal_order_id = EdgeIntegerField(widget=forms.HiddenInput)
    password = forms.CharField(
        widget=forms.PasswordInput, required=False, label="Your password (or a TOTP code below)"
    )
    totp = forms.CharField(max_length=8, required=False, label="TOTP code")
