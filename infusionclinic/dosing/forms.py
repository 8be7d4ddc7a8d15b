from django import forms

from infusionclinic.common.formfields import EdgeDecimalField, EdgeIntegerField
from infusionclinic.courses.models import Indication, TreatmentCourse

from .calculator import DosingSex, WeightBasis
from .models import OrderScope

BASIS_CHOICES = [
    (WeightBasis.ACTUAL.value, "Actual body weight (WT-2 default)"),
    (WeightBasis.IDEAL.value, "Ideal body weight (Devine, WT-5)"),
    (WeightBasis.ADJUSTED.value, "Adjusted body weight (WT-6)"),
]


class DoseFieldsForm(forms.Form):
    weight_basis = forms.ChoiceField(choices=BASIS_CHOICES, initial=WeightBasis.ACTUAL.value)
    sex_for_dosing = forms.ChoiceField(
        label="Sex for dosing (WT-7)",
        choices=[(s.value, s.value.capitalize()) for s in DosingSex],
        help_text="Used for ideal body weight; recorded separately from gender identity.",
    )
    dose_mg_per_kg = EdgeDecimalField(
        label="Dose (mg/kg)",
        max_digits=5,
        decimal_places=3,
        required=False,
        help_text="Depression, PTSD, anxiety, OCD (DOSE-1: 0.5 mg/kg over 40 min).",
    )
    dose_mg_per_kg_per_h = EdgeDecimalField(
        label="Dose rate (mg/kg/h)",
        max_digits=5,
        decimal_places=3,
        required=False,
        help_text="Pain only (DOSE-P5).",
    )
    bolus_mg_per_kg = EdgeDecimalField(
        label="Bolus (mg/kg)",
        max_digits=5,
        decimal_places=3,
        required=False,
        help_text="Pain only, optional (DOSE-P1).",
    )
    duration_min = EdgeIntegerField(label="Duration (min)", min_value=1, max_value=24 * 60)
    concentration_mg_per_ml = EdgeDecimalField(
        label="Concentration (mg/mL)", max_digits=7, decimal_places=3
    )


class OrderForm(DoseFieldsForm):
    indication = forms.ChoiceField(choices=Indication.choices)
    course = forms.ModelChoiceField(queryset=TreatmentCourse.objects.none(), required=False)
    scope = forms.ChoiceField(choices=OrderScope.choices, initial=OrderScope.SINGLE)
    field_order = ["course", "indication", "scope"]

    def __init__(self, *args: object, courses: list[TreatmentCourse], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["course"]
        assert isinstance(field, forms.ModelChoiceField)  # noqa: S101 - narrows the type
        field.queryset = TreatmentCourse.objects.filter(pk__in=[c.pk for c in courses])


class ReviseForm(DoseFieldsForm):
    change_reason = forms.CharField(
        label="Why the order changes (DOSE-3)", widget=forms.Textarea(attrs={"rows": 2})
    )
    field_order = ["change_reason"]


class SignForm(forms.Form):
    password = forms.CharField(
        label="Your password", widget=forms.PasswordInput(render_value=False), required=False
    )
    totp = forms.CharField(
        label="or a code from your authenticator app", max_length=16, required=False
    )
    warning_reason = forms.CharField(
        label="Reason for signing despite the warnings",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )
    override_reason = forms.CharField(
        label="Reason for overriding the hard limit (LIM-4)",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )
