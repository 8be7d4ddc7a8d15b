from django import forms

from infusionclinic.patients.forms import DateInput

from .models import CountMethod, DiscrepancyStatus

QTY = {"max_digits": 10, "decimal_places": 2, "min_value": 0}


class ReceiveForm(forms.Form):
    ndc = forms.CharField(label="NDC (package, as printed, e.g. 42023-113-10)", max_length=13)
    name = forms.CharField(max_length=120, initial="Ketamine HCl injection")
    labeler = forms.CharField(max_length=120, required=False)
    strength_mg_per_ml = forms.DecimalField(
        label="Strength (mg/mL)", max_digits=7, decimal_places=3
    )
    container_ml = forms.DecimalField(label="Vial volume (mL)", max_digits=7, decimal_places=2)
    lot_number = forms.CharField(max_length=40)
    expiry = forms.DateField(widget=DateInput)
    containers = forms.IntegerField(label="Vials received", min_value=1)
    supplier = forms.CharField(max_length=120)
    supplier_dea = forms.CharField(label="Supplier DEA number", max_length=20, required=False)
    invoice_number = forms.CharField(max_length=60)


class DrawForm(forms.Form):
    order = forms.ChoiceField(label="Signed dosing order")
    lot = forms.ChoiceField()
    qty_ml = forms.DecimalField(label="Quantity drawn (mL of vial)", **QTY)

    def __init__(self, *args, orders=(), lots=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["order"].choices = [
            (o.pk, f"{o.patient.family_name}, {o.patient.given_name} — {o.label} {o.dose_mg} mg")
            for o in orders
        ]
        self.fields["lot"].choices = [(lot.pk, str(lot)) for lot in lots]


class DoseOutForm(forms.Form):
    draw = forms.ChoiceField(label="Dose (draw)")
    qty_ml = forms.DecimalField(label="Quantity (mL of vial strength)", **QTY)

    def __init__(self, *args, draws=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["draw"].choices = [
            (d.pk, f"#{d.pk} {d.patient.family_name}, {d.patient.given_name} — {d.qty_ml} mL")
            for d in draws
        ]


class WasteForm(DoseOutForm):
    reason = forms.CharField(label="What was wasted and how", widget=forms.Textarea)
    witness_email = forms.EmailField(label="Witness e-mail")
    witness_secret = forms.CharField(
        label="Witness password or TOTP code",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


class CountForm(forms.Form):
    lot = forms.ChoiceField()
    counted_ml = forms.DecimalField(label="Found (mL)", **QTY)
    method = forms.ChoiceField(choices=CountMethod.choices)
    note = forms.CharField(required=False, widget=forms.Textarea)

    def __init__(self, *args, lots=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lot"].choices = [(lot.pk, str(lot)) for lot in lots]


class InvestigateForm(forms.Form):
    notes = forms.CharField(label="Recount and trace findings", widget=forms.Textarea)


class CloseForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[
            (DiscrepancyStatus.RESOLVED, "Resolved (explained)"),
            (DiscrepancyStatus.REPORTED_LOSS, "Report as theft/loss"),
        ]
    )
    reason = forms.CharField(widget=forms.Textarea)
