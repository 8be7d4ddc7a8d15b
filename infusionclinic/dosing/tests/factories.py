"""Builders for dosing tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from infusionclinic.accounts.models import User
from infusionclinic.patients.models import BodyMeasurement, Patient


def add_height(patient: Patient, cm: str, measured_on: date | None = None) -> BodyMeasurement:
    return BodyMeasurement.objects.create(
        patient=patient,
        kind="height",
        value_si=Decimal(cm),
        entered_value=Decimal(cm),
        entered_unit="cm",
        measured_on=measured_on or timezone.localdate(),
    )


def totp_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


STANDARD = {
    "indication": "depression",
    "weight_basis": "actual",
    "sex_for_dosing": "female",
    "dose_mg_per_kg": "0.5",
    "duration_min": 40,
    "concentration_mg_per_ml": "1",
}
