"""The PRE-7 facility check form (the day's people and equipment)."""

from __future__ import annotations

from django import forms

from infusionclinic.accounts.models import User


def _name(user: User) -> str:
    return user.full_name or user.email


class FacilityCheckForm(forms.Form):
    airway_prescriber = forms.TypedChoiceField(
        coerce=int, label="Prescriber experienced in airway management, on site"
    )
    acls_clinician = forms.TypedChoiceField(coerce=int, label="ACLS-certified clinician present")
    airway_equipment_checked = forms.BooleanField(
        required=False, label="Emergency airway equipment checked and on site"
    )
    resuscitation_drugs_checked = forms.BooleanField(
        required=False, label="Resuscitation drugs checked and in date"
    )
    note = forms.CharField(max_length=300, required=False, label="Note (optional)")

    def __init__(self, *args, prescribers=(), clinicians=(), **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["airway_prescriber"].choices = [(u.pk, _name(u)) for u in prescribers]
        self.fields["acls_clinician"].choices = [
            (u.pk, f"{_name(u)} ({u.get_role_display()})") for u in clinicians
        ]
