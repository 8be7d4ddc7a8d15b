from django import forms

from infusionclinic.common.formfields import EdgeDateField, EdgeDecimalField, EdgeIntegerField
from infusionclinic.patients.forms import DateInput

from .models import CountMethod, DiscrepancyStatus, LossType

QTY = {"max_digits": 10, "decimal_places": 2, "min_value": 0}


class ReceiveForm(forms.Form):
    ndc = forms.CharField(label="NDC (package, as printed, e.g. 42023-113-10)", max_length=13)
    name = forms.CharField(max_length=120, initial="Ketamine HCl injection")
    labeler = forms.CharField(max_length=120, required=False)
    strength_mg_per_ml = EdgeDecimalField(label="Strength (mg/mL)", max_digits=7, decimal_places=3)
    container_ml = EdgeDecimalField(label="Vial volume (mL)", max_digits=7, decimal_places=2)
    lot_number = forms.CharField(max_length=40)
    expiry = EdgeDateField(widget=DateInput)
    containers = EdgeIntegerField(label="Vials received", min_value=1)
    supplier = forms.CharField(max_length=120)
    supplier_dea = forms.CharField(label="Supplier DEA number", max_length=20, required=False)
    invoice_number = forms.CharField(max_length=60)
    # CS-9: which securely locked cabinet the vials go into (the software cannot check the lock).
    storage = forms.CharField(label="Stored in (locked cabinet)", max_length=120)

    def clean(self):
        from .catalog import product_mismatch

        data = super().clean()
        if data.get("strength_mg_per_ml") and data.get("container_ml") and data.get("ndc"):
            problem = product_mismatch(
                data["ndc"], data["strength_mg_per_ml"], data["container_ml"]
            )
            if problem:
                self.add_error("strength_mg_per_ml", problem)  # CS-23
        return data


class DrawForm(forms.Form):
    order = forms.ChoiceField(label="Signed dosing order")
    lot = forms.ChoiceField()
    qty_ml = EdgeDecimalField(label="Quantity drawn (mL of vial)", **QTY)

    def __init__(self, *args, orders=(), lots=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["order"].choices = [
            (o.pk, f"{o.patient.family_name}, {o.patient.given_name} — {o.label} {o.dose_mg} mg")
            for o in orders
        ]
        self.fields["lot"].choices = [(lot.pk, str(lot)) for lot in lots]


class DoseOutForm(forms.Form):
    draw = forms.ChoiceField(label="Dose (draw)")
    qty_ml = EdgeDecimalField(label="Quantity (mL of vial strength)", **QTY)

    def __init__(self, *args, draws=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["draw"].choices = [
            (d.pk, f"#{d.pk} {d.patient.family_name}, {d.patient.given_name} — {d.qty_ml} mL")
            for d in draws
        ]


class AdministrationForm(DoseOutForm):
    """CS-32: the quantity defaults to the pump's dose given for a draw made for an infusion
    session (the view sets it); another quantity needs a reason."""

    reason = forms.CharField(
        label="Reason, if it differs from the pump's dose given",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, suggestion=None, **kwargs):
        super().__init__(*args, **kwargs)
        if suggestion is not None:
            self.fields["qty_ml"].help_text = (
                f"Pump's dose given: {suggestion.pump_mg} mg"
                + (
                    f", of which {suggestion.already_administered_mg} mg is already recorded"
                    if suggestion.already_administered_mg
                    else ""
                )
                + f" = {suggestion.exact_ml.normalize():f} mL at "
                f"{suggestion.concentration_mg_per_ml.normalize():f} mg/mL"
                + (" (more than this dose has left)" if suggestion.capped else "")
                + " (CS-32)."
            )


class WasteForm(DoseOutForm):
    reason = forms.CharField(label="What was wasted and how", widget=forms.Textarea)
    witness_email = forms.EmailField(label="Witness e-mail")
    witness_secret = forms.CharField(
        label="Witness password or TOTP code",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


class CountForm(forms.Form):
    lot = forms.ChoiceField()
    counted_ml = EdgeDecimalField(label="Found (mL)", **QTY)
    method = forms.ChoiceField(choices=CountMethod.choices)
    note = forms.CharField(required=False, widget=forms.Textarea)

    def __init__(self, *args, lots=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lot"].choices = [(lot.pk, str(lot)) for lot in lots]


class RecountForm(forms.Form):
    """§7 step 2: two counts by two people; the second re-authenticates here (CS-44)."""

    first_count_ml = EdgeDecimalField(label="Your count (mL)", **QTY)
    second_count_ml = EdgeDecimalField(label="Second counter's count (mL)", **QTY)
    second_counter_email = forms.EmailField(label="Second counter's e-mail")
    second_counter_secret = forms.CharField(
        label="Second counter's password or TOTP code",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


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


class RegistrationForm(forms.Form):
    """§4 Registration (CS-4)."""

    registrant_name = forms.CharField(max_length=200)
    dea_number = forms.CharField(label="DEA registration number", max_length=9)
    schedules = forms.CharField(max_length=40, initial="III")
    address = forms.CharField(label="Registered address", widget=forms.Textarea(attrs={"rows": 2}))
    phone = forms.CharField(max_length=32, required=False)
    contact_name = forms.CharField(label="Contact person", max_length=200, required=False)
    county = forms.CharField(max_length=100, required=False)
    principal_business = forms.CharField(max_length=100, initial="Practitioner")
    expires_on = EdgeDateField(label="Expires on", widget=DateInput)


LINES = 3


class _LinesForm(forms.Form):
    """Up to three lots with a quantity each (one record, one ledger entry per line)."""

    def __init__(self, *args, lots=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "—"), *[(lot.pk, str(lot)) for lot in lots]]
        for i in range(1, LINES + 1):
            self.fields[f"lot_{i}"] = forms.ChoiceField(
                label=f"Lot {i}", choices=choices, required=i == 1
            )
            self.fields[f"qty_{i}"] = EdgeDecimalField(
                label=f"Quantity {i} (mL)", required=i == 1, **QTY
            )
        # Lines first, then the record's own fields.
        self.order_fields([*[f for i in range(1, LINES + 1) for f in (f"lot_{i}", f"qty_{i}")]])

    def clean(self):
        data = super().clean()
        for i in range(1, LINES + 1):
            if bool(data.get(f"lot_{i}")) != (data.get(f"qty_{i}") is not None):
                self.add_error(f"qty_{i}", "Give a lot and its quantity together.")
        return data

    def line_ids(self) -> list[tuple[str, object]]:
        d = self.cleaned_data
        return [(d[f"lot_{i}"], d[f"qty_{i}"]) for i in range(1, LINES + 1) if d.get(f"lot_{i}")]


def _secret(label: str) -> forms.CharField:
    return forms.CharField(label=label, widget=forms.PasswordInput(attrs={"autocomplete": "off"}))


class DestructionForm(_LinesForm):
    """CS-17, CS-18: Form 41 data; two witnesses re-authenticate on this screen (CS-44)."""

    method = forms.CharField(label="Method of destruction (non-retrievable)", max_length=200)
    place = forms.CharField(label="Place of destruction", max_length=200)
    witness_1_email = forms.EmailField(label="Witness 1 e-mail")
    witness_1_secret = _secret("Witness 1 password or TOTP code")
    witness_2_email = forms.EmailField(label="Witness 2 e-mail")
    witness_2_secret = _secret("Witness 2 password or TOTP code")


class ReturnForm(_LinesForm):
    """CS-17, CS-37: return to a DEA-registered reverse distributor."""

    distributor_name = forms.CharField(label="Reverse distributor", max_length=200)
    distributor_address = forms.CharField(
        label="Reverse distributor's address", widget=forms.Textarea(attrs={"rows": 2})
    )
    distributor_dea = forms.CharField(label="Reverse distributor's DEA number", max_length=9)
    reference = forms.CharField(
        label="Shipment / invoice reference", max_length=100, required=False
    )


class LossForm(_LinesForm):
    """CS-38, R5: a theft or loss; the report's CS-13 deadlines run from the discovery."""

    loss_type = forms.ChoiceField(label="Type (Form 106)", choices=LossType.choices)
    circumstances = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    police_notified = forms.BooleanField(required=False)
    police_department = forms.CharField(max_length=200, required=False)
    police_phone = forms.CharField(max_length=32, required=False)
    police_report_number = forms.CharField(max_length=60, required=False)
    purchase_value = EdgeDecimalField(
        label="Purchase value (USD)", max_digits=10, decimal_places=2, required=False
    )
    carrier = forms.CharField(
        label="Carrier details (lost in transit)",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )


class NoticeSentForm(forms.Form):
    step = forms.CharField(widget=forms.HiddenInput, initial="notice")


class Form106Form(forms.Form):
    step = forms.CharField(widget=forms.HiddenInput, initial="form106")
    reference = forms.CharField(label="DEA Form 106 reference", max_length=60)


class ReconciliationSignForm(forms.Form):
    """R2: the second signer re-authenticates on this screen (CS-44)."""

    second_email = forms.EmailField(label="Second signer e-mail")
    second_secret = _secret("Second signer password or TOTP code")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class RemainderWasteForm(forms.Form):
    """CS-21 when the clinic counts a vial remainder as wastage; one witness (CS-44)."""

    lot = forms.ChoiceField()
    qty_ml = EdgeDecimalField(label="Remainder discarded (mL)", **QTY)
    reason = forms.CharField(label="What was discarded and how", widget=forms.Textarea)
    witness_email = forms.EmailField(label="Witness e-mail")
    witness_secret = _secret("Witness password or TOTP code")

    def __init__(self, *args, lots=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lot"].choices = [(lot.pk, str(lot)) for lot in lots]


class BreakageForm(forms.Form):
    """CS-20: witnessed breakage/spill that cannot be recovered (one witness, CS-44)."""

    lot = forms.ChoiceField()
    qty_ml = EdgeDecimalField(label="Quantity lost to the breakage (mL)", **QTY)
    circumstances = forms.CharField(
        label="What broke or spilled, how and where", widget=forms.Textarea
    )
    recoverable = forms.BooleanField(
        label="Some of the drug can be recovered (then: destroy it on Form 41 instead)",
        required=False,
    )
    witness_email = forms.EmailField(label="Witness e-mail")
    witness_secret = _secret("Witness password or TOTP code")

    def __init__(self, *args, lots=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lot"].choices = [(lot.pk, str(lot)) for lot in lots]


class RecordsRangeForm(forms.Form):
    """CS-47: one registered location's records over a date range."""

    date_from = EdgeDateField(label="From", widget=DateInput)
    date_to = EdgeDateField(label="To", widget=DateInput)


class StorageTransferForm(forms.Form):
    """CS-35 (out to a room cart) and CS-34 (unopened vials back to the cabinet)."""

    lot = forms.ChoiceField()
    containers = EdgeIntegerField(label="Sealed vials", min_value=1)
    place = forms.CharField(label="Room cart / place", max_length=120)
    is_return = forms.BooleanField(label="Return to the cabinet", required=False)
    sealed_confirmed = forms.BooleanField(
        label="The returned vials are unopened (CS-34)", required=False
    )
    receiver_email = forms.EmailField(label="Receiver e-mail")
    receiver_secret = _secret("Receiver password or TOTP code")

    def __init__(self, *args, lots=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lot"].choices = [(lot.pk, f"{lot} — in {lot.storage or '?'}") for lot in lots]
