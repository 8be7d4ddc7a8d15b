"""Forms for PRN medicines (issue 21 point 13): the prescriber's standing order (one row per
medicine of data/prn_medicines.json, defaults unverified) and the nurse's "given" record."""

from __future__ import annotations

from typing import Any

from django import forms

from infusionclinic.common.formfields import EdgeDateTimeField, EdgeDecimalField, EdgeIntegerField

from .prn import prn_medicines


class StandingOrderForm(forms.Form):
    """One group of fields per PRN medicine; a medicine is on the order when its box is ticked.
    Defaults are the data file's, UNVERIFIED: the prescriber sets the numbers that count."""

    def __init__(self, *args: Any, courses: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        courses = courses or []
        self.fields["course"] = forms.TypedChoiceField(
            label="For",
            required=False,
            coerce=int,
            empty_value=None,
            choices=[("", "All of the patient's sessions")]
            + [(c.pk, f"Sessions of the {c} only") for c in courses],
        )
        self._courses = {c.pk: c for c in courses}
        for med in prn_medicines().values():
            unit = med.unit
            self.fields[f"{med.id}_include"] = forms.BooleanField(
                required=False, label=f"Allow {med.name}"
            )
            self.fields[f"{med.id}_dose"] = EdgeDecimalField(
                required=False,
                max_digits=7,
                decimal_places=3,
                initial=med.default_dose,
                label=f"{med.name}: dose ({unit})",
                help_text="Default from the clinic's list, unverified: set your own.",
            )
            self.fields[f"{med.id}_route"] = forms.ChoiceField(
                choices=[(r, r) for r in med.routes],
                initial=med.default_route,
                required=False,
                label=f"{med.name}: route",
            )
            self.fields[f"{med.id}_max_per_session"] = EdgeDecimalField(
                required=False,
                max_digits=7,
                decimal_places=3,
                initial=med.default_max_per_session,
                label=f"{med.name}: most per session ({unit})",
            )
            self.fields[f"{med.id}_indication"] = forms.CharField(
                max_length=200, initial=med.indication, label=f"{med.name}: for"
            )
            self.fields[f"{med.id}_indication"].required = False
        self.fields["note"] = forms.CharField(max_length=500, required=False, label="Note")
        self.fields["password"] = forms.CharField(
            widget=forms.PasswordInput, required=False, label="Your password (to sign)"
        )
        self.fields["totp"] = forms.CharField(
            max_length=8, required=False, label="or a current TOTP code"
        )

    def groups(self) -> list[tuple[Any, list[Any]]]:
        """Each medicine with its bound fields, for one fieldset per medicine."""
        parts = ("include", "dose", "route", "max_per_session", "indication")
        return [
            (med, [self[f"{med.id}_{part}"] for part in parts]) for med in prn_medicines().values()
        ]

    def other_fields(self) -> list[Any]:
        return [self[name] for name in ("course", "note", "password", "totp")]

    def service_args(self) -> dict[str, Any]:
        data = self.cleaned_data
        lines = [
            {
                "medicine": med.id,
                "dose": data.get(f"{med.id}_dose"),
                "route": data.get(f"{med.id}_route"),
                "max_per_session": data.get(f"{med.id}_max_per_session"),
                "indication": data.get(f"{med.id}_indication") or med.indication,
            }
            for med in prn_medicines().values()
            if data.get(f"{med.id}_include")
        ]
        return {
            "lines": lines,
            "course": self._courses.get(data.get("course")),
            "note": data.get("note", ""),
            "password": data.get("password", ""),
            "totp": data.get("totp", ""),
        }


class RevokeForm(forms.Form):
    standing_order_id = EdgeIntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(max_length=500, label="Reason for revoking")


class PrnForm(forms.Form):
    """A PRN medicine given now (or at the time typed, the location's local time); the route,
    the dose's unit and its maximum come from the standing order."""

    medicine = forms.ChoiceField(label="Medicine (from the signed standing order)")
    dose = EdgeDecimalField(max_digits=7, decimal_places=3, label="Dose given")
    given_at = EdgeDateTimeField(
        required=False,
        label="Given at (leave empty for now)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    reason = forms.CharField(max_length=500, label="Why (indication, e.g. nausea at 20 min)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_prn_%s")
        super().__init__(*args, **kwargs)
        self.fields["medicine"].choices = [(med.id, med.name) for med in prn_medicines().values()]

    def limit_to(self, lines: list[Any]) -> None:
        """Offer only what the session's standing orders allow, each with its terms."""
        names = {med.id: med.name for med in prn_medicines().values()}
        self.fields["medicine"].choices = [
            (
                line.medicine,
                f"{names.get(line.medicine, line.medicine)} {line.dose.normalize():f} "
                f"{line.unit} {line.route}, at most {line.max_per_session.normalize():f} "
                f"{line.unit} per session — for {line.indication}",
            )
            for line in lines
        ]
