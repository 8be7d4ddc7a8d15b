"""Forms parse what was typed; the services decide whether it is acceptable."""

from __future__ import annotations

from typing import Any

from django import forms

from infusionclinic.common.formfields import EdgeDateField, EdgeDecimalField, EdgeIntegerField
from infusionclinic.patients.forms import DateInput
from infusionclinic.patients.models import SexAtBirth

from .models import HepaticDisease, ReferralSource, ReviewDecision, TreatmentKind, TrialOutcome
from .services import consent_agree_field

YES_NO = [("", "— choose —"), ("yes", "Yes"), ("no", "No")]
_UNSET = object()


def _yes_no(label: str, help_text: str = "") -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=YES_NO,
        coerce=lambda v: v == "yes",
        empty_value=None,
        required=False,
        help_text=help_text,
    )


def _text(label: str, max_length: int, help_text: str = "", rows: int = 3) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=False,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


class IntakeForm(forms.Form):
    """Every field optional: a draft is saved as it is typed. Submitting checks completeness
    (services.intake_missing_for_submit)."""

    medical_history = _text("Medical history", 10000, "Illnesses, operations, hospital stays.")
    current_medications = _text(
        "Current medications", 10000, "Every medicine you take, with the dose; one per line."
    )
    allergies = _text("Allergies", 5000, "Write 'None known' if you have none.", rows=2)
    substance_use = _text("Alcohol, cannabis and other substances", 5000, rows=2)
    psychiatric_history = _text("Psychiatric history", 10000, "Diagnoses, hospital stays.")
    suicide_attempts = _yes_no("Have you ever attempted suicide?")
    cardiovascular_history = _text("Heart and blood-pressure history", 5000, rows=2)
    ketamine_hypersensitivity = _yes_no(
        "Have you ever had an allergic reaction to ketamine or esketamine?"
    )
    aneurysm_avm_or_brain_bleed = _yes_no(
        "Have you been told you have an aneurysm or an arteriovenous malformation, "
        "or had bleeding in the brain?"
    )
    uncontrolled_hypertension = _yes_no(
        "Is your blood pressure high despite treatment, or have you been told that a rise "
        "in blood pressure is dangerous for you?"
    )
    unstable_heart_disease = _yes_no(
        "Do you have chest pain at rest, a heart attack in the last months, or heart failure "
        "that is not under control?"
    )
    current_psychosis = _yes_no(
        "Are you currently hearing or seeing things others do not, or having unusual beliefs?"
    )
    current_mania = _yes_no("Are you currently in a manic or mixed episode?")
    psychosis_history = _yes_no("Have you had psychosis in the past?")
    bipolar_disorder = _yes_no("Have you been diagnosed with bipolar disorder?")
    pregnant = _yes_no("Are you pregnant, or could you be?")
    breastfeeding = _yes_no("Are you breastfeeding?")
    hepatic_disease = forms.ChoiceField(
        label="Liver disease",
        choices=[("", "— choose —"), *HepaticDisease.choices],
        required=False,
    )
    alcohol_misuse_or_hepatitis = _yes_no("Do you drink heavily, or have chronic hepatitis?")
    takes_theophylline = _yes_no(
        "Do you take theophylline or aminophylline (asthma or COPD medicines)?"
    )
    takes_cns_depressants = _yes_no(
        "Do you take benzodiazepines, opioids, sleeping pills or other sedating medicines?"
    )
    takes_stimulants_or_maoi = _yes_no(
        "Do you take stimulants (e.g. for ADHD), MAO inhibitors or decongestants like "
        "pseudoephedrine?"
    )
    substance_use_active = _yes_no("Do you currently have a drug or alcohol use problem?")
    substance_use_history = _yes_no(
        "Have you had a drug or alcohol use problem in the past, or ever misused ketamine?"
    )
    raised_eye_or_brain_pressure = _yes_no("Do you have glaucoma, or a recent head injury?")
    urinary_symptoms = _yes_no(
        "Do you have bladder inflammation (cystitis) or problems passing urine?"
    )
    weight_kg = forms.CharField(label="Weight (kg)", max_length=10, required=False)
    height_cm = forms.CharField(label="Height (cm)", max_length=10, required=False)
    baseline_systolic_mmhg = forms.CharField(
        label="Usual blood pressure, upper number (mmHg)",
        max_length=5,
        required=False,
        help_text="If you know it.",
    )
    baseline_diastolic_mmhg = forms.CharField(
        label="Usual blood pressure, lower number (mmHg)", max_length=5, required=False
    )
    emergency_contact_name = forms.CharField(
        label="Emergency contact name", max_length=200, required=False
    )
    emergency_contact_phone = forms.CharField(
        label="Emergency contact phone", max_length=32, required=False
    )
    escort_name = forms.CharField(
        label="Escort name",
        max_length=200,
        required=False,
        help_text="The adult who will take you home after each infusion.",
    )
    escort_phone = forms.CharField(label="Escort phone", max_length=32, required=False)

    SECTIONS = (
        (
            "History",
            (
                "medical_history",
                "current_medications",
                "allergies",
                "substance_use",
                "psychiatric_history",
                "suicide_attempts",
                "cardiovascular_history",
            ),
        ),
        (
            "Safety questions",
            (
                "ketamine_hypersensitivity",
                "aneurysm_avm_or_brain_bleed",
                "uncontrolled_hypertension",
                "unstable_heart_disease",
                "current_psychosis",
                "current_mania",
                "psychosis_history",
                "bipolar_disorder",
                "pregnant",
                "breastfeeding",
                "hepatic_disease",
                "alcohol_misuse_or_hepatitis",
                "takes_theophylline",
                "takes_cns_depressants",
                "takes_stimulants_or_maoi",
                "substance_use_active",
                "substance_use_history",
                "raised_eye_or_brain_pressure",
                "urinary_symptoms",
            ),
        ),
        (
            "Measurements",
            ("weight_kg", "height_cm", "baseline_systolic_mmhg", "baseline_diastolic_mmhg"),
        ),
        (
            "Contacts",
            ("emergency_contact_name", "emergency_contact_phone", "escort_name", "escort_phone"),
        ),
    )

    def __init__(self, *args: Any, hide_pregnancy: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if hide_pregnancy:
            del self.fields["pregnant"]
            del self.fields["breastfeeding"]

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [
            (title, [self[name] for name in names if name in self.fields])
            for title, names in self.SECTIONS
        ]

    def answer_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """The answers for reading (issue 21 point 3): each question in its words and each
        choice by its label ("No", "Mild or moderate"), never the stored value ("no")."""
        return [
            (title, [(field.label, self.answer_text(field.name)) for field in fields])
            for title, fields in self.sections()
        ]

    def answer_text(self, name: str, value: Any = _UNSET) -> str:
        """One answer in words; `value` as stored (True, "moderate", Decimal) or, by default,
        the form's initial value."""
        field = self.fields[name]
        if value is _UNSET:
            value = self[name].value()
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        if value in (None, ""):
            return "—"
        choices = getattr(field, "choices", None)
        if choices:
            return str(dict(choices).get(str(value), value))
        return str(value)

    def amendment_lines(self, changes: dict[str, list[Any]]) -> list[str]:
        """An amendment's {field: [old, new]} as "Question: old → new", in words."""
        return [
            f"{self.fields[name].label if name in self.fields else name}: "
            + " → ".join(self.answer_text(name, v) if name in self.fields else str(v) for v in pair)
            for name, pair in changes.items()
        ]

    def values(self, *, only_sent: bool = False) -> dict[str, Any]:
        """The cleaned values; with only_sent, only fields present in the request (an autosave
        of part of the page changes nothing else)."""
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if not only_sent or name in self.data
        }

    @staticmethod
    def initial_from(intake: Any) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for name in IntakeForm.base_fields:
            value = getattr(intake, name)
            if isinstance(value, bool):
                value = "yes" if value else "no"
            initial[name] = "" if value is None else value
        return initial


class OfferAcceptForm(forms.Form):
    """Issue 21 point 3: "Accept into the chart" on one offer (chart_offers.ChartOffer.key)."""

    item = forms.CharField(max_length=40)
    back_to = forms.ChoiceField(choices=[("chart", "chart"), ("intake", "intake")], required=False)


class AmendForm(IntakeForm):
    reason = forms.CharField(
        label="Reason for the change", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class ReviewForm(forms.Form):
    rule_id = forms.CharField(max_length=16, widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=ReviewDecision.choices, widget=forms.RadioSelect)
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class PriorTreatmentForm(forms.Form):
    kind = forms.ChoiceField(choices=TreatmentKind.choices)
    name = forms.CharField(label="Drug or treatment", max_length=200)
    dose_mg_per_day = EdgeDecimalField(
        label="Dose (mg/day)", required=False, max_digits=7, decimal_places=2
    )
    weeks = EdgeIntegerField(required=False, min_value=0)
    dose_adequate = _yes_no("Adequate dose?")
    outcome = forms.ChoiceField(choices=TrialOutcome.choices, initial=TrialOutcome.UNKNOWN)


class ReferralForm(forms.Form):
    source = forms.ChoiceField(choices=ReferralSource.choices)
    source_reference = forms.CharField(
        max_length=200, required=False, help_text="e.g. the website request number"
    )
    location = forms.ChoiceField()
    given_name = forms.CharField(label="Given name", max_length=100)
    family_name = forms.CharField(label="Family name", max_length=100)
    birth_date = EdgeDateField(label="Date of birth", widget=DateInput)
    sex_at_birth = forms.ChoiceField(choices=SexAtBirth.choices)
    email = forms.EmailField(required=False)
    phone = forms.CharField(max_length=32, required=False)
    reason = forms.CharField(
        max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    diagnosis_codes = forms.CharField(
        label="Diagnoses (ICD-10-CM)",
        max_length=200,
        required=False,
        help_text="Billable codes separated by commas, e.g. F33.2",
    )
    referring_provider_name = forms.CharField(max_length=200, required=False)
    referring_provider_practice = forms.CharField(max_length=200, required=False)
    referring_provider_phone = forms.CharField(max_length=32, required=False)
    referring_provider_email = forms.EmailField(required=False)
    referring_provider_npi = forms.CharField(
        label="Referring provider NPI", max_length=10, required=False
    )

    def __init__(self, *args: Any, location_choices: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = location_choices


class AcceptForm(forms.Form):
    link_patient = EdgeIntegerField(required=False, widget=forms.HiddenInput)
    create_new = forms.BooleanField(required=False)


class SignForm(forms.Form):
    document = EdgeIntegerField(widget=forms.HiddenInput)
    typed_name = forms.CharField(label="Type your full legal name", max_length=200)
    agreed = forms.BooleanField(
        label="I have read this document and I agree to it.", required=False
    )


class ConsentReviewForm(forms.Form):
    """Issue 21 point 12: the review-and-sign form over every document due: the name typed
    once, one "I have read it" box per document (field names from `consent_agree_field`)."""

    typed_name = forms.CharField(label="Type your full legal name", max_length=200)

    def __init__(self, *args: Any, documents: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.documents = documents
        for document in documents:
            self.fields[consent_agree_field(document)] = forms.BooleanField(
                label=f"I have read {document.title} (version {document.version}) and I agree "
                "to it.",
                required=False,
            )
        self.order_fields([consent_agree_field(d) for d in documents] + ["typed_name"])

    def agree_field(self, document: Any) -> forms.BoundField:
        return self[consent_agree_field(document)]

    def agreed_codes(self) -> set[str]:
        return {d.code for d in self.documents if self.cleaned_data.get(consent_agree_field(d))}


class CountersignForm(forms.Form):
    signature = EdgeIntegerField(widget=forms.HiddenInput)
