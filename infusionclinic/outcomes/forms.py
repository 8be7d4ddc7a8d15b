"""Forms parse what was typed; the services and the scoring engine decide what is acceptable."""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.core.exceptions import ValidationError

from .scoring import InstrumentSpec


class AnswersForm(forms.Form):
    """One radio group per item of an instrument, all optional here: a draft may have gaps and
    the service names any item missing at submission (SCALE-1)."""

    def __init__(
        self,
        *args: object,
        spec: InstrumentSpec,
        initial_answers: Sequence[int | None] = (),
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.spec = spec
        for item in spec.items:
            name = f"item_{item.number}"
            self.fields[name] = forms.TypedChoiceField(
                label=f"{item.number}. {item.text or item.label}",
                choices=[(o.value, o.label) for o in item.options],
                coerce=int,
                required=False,
                empty_value=None,
                widget=forms.RadioSelect,
            )
            if item.number - 1 < len(initial_answers):
                self.initial[name] = initial_answers[item.number - 1]

    def answers(self) -> list[int | None]:
        return [self.cleaned_data.get(f"item_{item.number}") for item in self.spec.items]

    def apply_errors(self, error: ValidationError) -> None:
        """ "answers.3" -> field item_3; "answers" and others -> the form as a whole."""
        for key, messages in error.message_dict.items():
            field = f"item_{key.split('.', 1)[1]}" if key.startswith("answers.") else key
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


class AmendForm(AnswersForm):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label="Reason for the change"
    )


class AssignForm(forms.Form):
    instrument = forms.ChoiceField(label="Questionnaire")

    def __init__(self, *args: object, codes: Sequence[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["instrument"].choices = [(c, c) for c in codes]  # type: ignore[attr-defined]


class AcknowledgeForm(forms.Form):
    action_taken = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        label="Action taken (risk assessment documented)",
    )
