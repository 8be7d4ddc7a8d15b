from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError

from .models import PaymentMethod
from .services import LineInput

_LINE_RE = re.compile(r"^\s*([A-Za-z0-9]{5})\s*(?:[xX*]\s*)?(\d{1,2})?\s*$")


class InvoiceForm(forms.Form):
    appointment = forms.TypedChoiceField(coerce=int, label="Completed appointment")
    lines = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=(
            'One code per line with its units, e.g. "J3490 1". The infusion codes (96365, 96366) '
            "are added from the session's pump times."
        ),
    )
    rendering_provider = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    use_package = forms.BooleanField(required=False, initial=True, label="Use a prepaid package")

    def __init__(self, *args: object, appointments=(), providers=(), **kwargs: object) -> None:  # noqa: ANN001
        super().__init__(*args, **kwargs)
        self.fields["appointment"].choices = appointments
        self.fields["rendering_provider"].choices = [("", "-"), *providers]

    def clean_lines(self) -> list[LineInput]:
        parsed = []
        for raw in self.cleaned_data["lines"].splitlines():
            if not raw.strip():
                continue
            match = _LINE_RE.match(raw)
            if match is None:
                raise ValidationError(
                    f'Could not read "{raw.strip()[:40]}": write a code and units.'
                )
            parsed.append(LineInput(match.group(1).upper(), int(match.group(2) or 1)))
        return parsed


class PackageForm(forms.Form):
    plan = forms.TypedChoiceField(coerce=int, label="Package")

    def __init__(self, *args: object, plans=(), **kwargs: object) -> None:  # noqa: ANN001
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = plans


class PaymentForm(forms.Form):
    amount = forms.CharField(max_length=16, label="Amount (USD)")
    method = forms.ChoiceField(choices=PaymentMethod.choices)
    reference = forms.CharField(
        max_length=100, required=False, help_text="Slip or transfer reference"
    )
    note = forms.CharField(max_length=300, required=False)


class RefundForm(forms.Form):
    amount = forms.CharField(max_length=16, label="Refund amount (USD)")
    reference = forms.CharField(max_length=100, required=False)
    note = forms.CharField(max_length=300, required=False)
    # One per form shown: a double submit of a card refund refunds once (idempotency key).
    request_key = forms.CharField(max_length=40, widget=forms.HiddenInput, required=False)
