"""Forms of the session page's controlled-substance section (issue 21 point 6): each parses one
action's input for one controlled-substance service."""

from django import forms

from infusionclinic.common.formfields import EdgeDecimalField, EdgeIntegerField

QTY = {"max_digits": 10, "decimal_places": 2, "min_value": 0}


class CsDrawForm(forms.Form):
    """CS-31: the lot (its strength and the order's dose in mL on each choice, set by the page)
    and the quantity drawn in mL of the vial; the mg follow from the lot's strength (CS-48)."""

    lot = EdgeIntegerField(label="Lot", widget=forms.Select)
    qty_ml = EdgeDecimalField(label="Quantity drawn (mL of vial)", **QTY)

    def set_lots(self, lots: list) -> None:  # [DrawLot]
        self.fields["lot"].widget.choices = [(d.lot.pk, d.label) for d in lots]


class CsAdministerForm(forms.Form):
    """CS-32: empty quantity = the pump's dose given in mL of the vial's strength."""

    draw_id = EdgeIntegerField(widget=forms.HiddenInput)
    qty_ml = EdgeDecimalField(label="Administered (mL of vial)", required=False, **QTY)
    reason = forms.CharField(
        label="Reason, if it differs from the pump's dose given", max_length=500, required=False
    )


class CsWasteForm(forms.Form):
    """CS-33, CS-44: a second licensed user witnesses and re-authenticates on this form."""

    draw_id = EdgeIntegerField(widget=forms.HiddenInput)
    qty_ml = EdgeDecimalField(label="Wasted (mL of vial)", **QTY)
    reason = forms.CharField(label="What was wasted and how", max_length=500)
    witness_email = forms.EmailField(label="Witness e-mail")
    witness_secret = forms.CharField(
        label="Witness password or TOTP code",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


class CsExceptionForm(forms.Form):
    reason = forms.CharField(
        label="Documented exception (prescriber): what happened and what was done",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )
