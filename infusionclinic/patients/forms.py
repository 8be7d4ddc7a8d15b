"""Forms parse what was typed into Python values; the services decide whether it is acceptable.
`apply_service_errors` puts a service's per-field messages back on the form's fields."""

from django import forms
from django.core.exceptions import ValidationError

from infusionclinic.common.formfields import EdgeDateField, EdgeDecimalField, EdgeIntegerField
from infusionclinic.common.units import HeightUnit, WeightUnit

from . import services
from .models import AllergySeverity, MeasurementKind, SexAtBirth
from .services import DEMOGRAPHIC_FIELDS


def apply_service_errors(form: forms.Form, error: ValidationError) -> None:
    for field, messages in error.message_dict.items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)


class DateInput(forms.DateInput):
    input_type = "date"


class DemographicsForm(forms.Form):
    given_name = forms.CharField(label="Legal given name", max_length=100)
    family_name = forms.CharField(label="Legal family name", max_length=100)
    preferred_name = forms.CharField(max_length=100, required=False)
    birth_date = EdgeDateField(label="Date of birth", widget=DateInput)
    sex_at_birth = forms.ChoiceField(choices=SexAtBirth.choices)
    gender_identity = forms.CharField(max_length=100, required=False, label="Gender identity")
    email = forms.EmailField(required=False)
    phone = forms.CharField(max_length=32, required=False)
    address_line1 = forms.CharField(label="Address", max_length=200, required=False)
    address_line2 = forms.CharField(label="Address line 2", max_length=200, required=False)
    city = forms.CharField(max_length=100, required=False)
    region = forms.CharField(label="State / region", max_length=100, required=False)
    postal_code = forms.CharField(max_length=20, required=False)
    country = forms.CharField(max_length=2, initial="US")
    emergency_contact_name = forms.CharField(max_length=200, required=False)
    emergency_contact_phone = forms.CharField(max_length=32, required=False)
    emergency_contact_relationship = forms.CharField(max_length=100, required=False)
    escort_name = forms.CharField(
        label="Usual escort's name", max_length=200, required=False, help_text="PRE-5"
    )
    escort_phone = forms.CharField(label="Usual escort's phone", max_length=32, required=False)

    def demographics(self) -> dict[str, object]:
        return {name: self.cleaned_data[name] for name in DEMOGRAPHIC_FIELDS}


class PatientEditForm(DemographicsForm):
    version = EdgeIntegerField(widget=forms.HiddenInput)


class PatientCreateForm(DemographicsForm):
    location = forms.ChoiceField(label="Home location")
    weight = EdgeDecimalField(max_digits=7, decimal_places=2, required=False)
    weight_unit = forms.ChoiceField(choices=[(u.value, u.value) for u in WeightUnit])
    height = EdgeDecimalField(max_digits=7, decimal_places=2, required=False)
    height_unit = forms.ChoiceField(choices=[(u.value, u.value) for u in HeightUnit])
    referring_provider_name = forms.CharField(max_length=200, required=False)
    referring_provider_practice = forms.CharField(max_length=200, required=False)
    referring_provider_phone = forms.CharField(max_length=32, required=False)
    referring_provider_email = forms.EmailField(required=False)
    referring_provider_npi = forms.CharField(
        label="Referring provider NPI", max_length=10, required=False
    )

    def __init__(self, *args: object, location_choices: list[tuple[str, str]], **kwargs: object):
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = location_choices


class MeasurementForm(forms.Form):
    kind = forms.ChoiceField(choices=MeasurementKind.choices)
    value = EdgeDecimalField(max_digits=7, decimal_places=2)
    unit = forms.ChoiceField(
        choices=[(u.value, u.value) for u in WeightUnit] + [(u.value, u.value) for u in HeightUnit]
    )
    measured_on = EdgeDateField(widget=DateInput, required=False)


class AllergyForm(forms.Form):
    substance = forms.CharField(max_length=200)
    reaction = forms.CharField(max_length=200, required=False)
    severity = forms.ChoiceField(choices=AllergySeverity.choices, initial=AllergySeverity.UNKNOWN)


class MedicationForm(forms.Form):
    name = forms.CharField(max_length=200)
    dose = forms.CharField(max_length=200, required=False, help_text="As taken, e.g. 20 mg daily")
    started_on = EdgeDateField(widget=DateInput, required=False)


class DiagnosisForm(forms.Form):
    code = forms.CharField(label="ICD-10-CM code", max_length=8)
    is_primary = forms.BooleanField(required=False, label="Primary diagnosis")
    noted_on = EdgeDateField(widget=DateInput, required=False)


class EmergencyAccessForm(forms.Form):
    mrn = forms.CharField(label="Patient MRN", max_length=16)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text="Why you need this chart now. Clinic admins are told, and it is kept in the "
        "audit log.",
    )


class ProviderChoiceForm(forms.Form):
    """Issue 21 point 1: what to do when a stored provider matches the typed NPI but differs
    (`services.ReferringProviderConflict`). Posted with the registration or referral form; the
    service checks the choice against the stored records it finds again."""

    referring_provider_choice = forms.CharField(
        label="Which provider referred this patient?",
        required=False,
        widget=forms.RadioSelect,
    )

    def __init__(
        self,
        *args: object,
        conflict: "services.ReferringProviderConflict | None" = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = []
        if conflict is not None:
            typed = conflict.typed
            for match in conflict.matches:
                stored = match.provider
                count = match.patient_count
                charts = (
                    "no chart names it yet"
                    if count == 0
                    else f"it is named on {count} chart{'s' if count != 1 else ''}; "
                    + ("it changes" if count == 1 else "they change")
                    + " too"
                )
                choices += [
                    (
                        f"use:{stored.pk}",
                        f"Use the stored record: {stored}"
                        + (f", {stored.email}" if stored.email else ""),
                    ),
                    (
                        f"update:{stored.pk}",
                        f"Update the stored record {stored.name} with what was typed ({charts})",
                    ),
                ]
            typed_text = ", ".join(typed[f] for f in ("name", "practice", "email") if typed[f])
            choices.append(("new", f"Keep both: record {typed_text} as a separate provider"))
        self.fields["referring_provider_choice"].widget.choices = choices

    def choice(self) -> str:
        return self.cleaned_data.get("referring_provider_choice", "") if self.is_valid() else ""
