"""Builders for the intake tests: a complete intake's answers, a fully consented patient."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone

from infusionclinic.intake import screening
from infusionclinic.intake.models import (
    ConsentSignature,
    Intake,
    IntakeStatus,
)
from infusionclinic.intake.selectors import consent_documents_current
from infusionclinic.patients.models import Patient


def complete_answers(**overrides: Any) -> dict[str, Any]:
    """Intake values that can be submitted and trigger no contraindication."""
    values: dict[str, Any] = dict.fromkeys(
        screening.REQUIRED_ANSWERS + screening.PREGNANCY_ANSWERS, False
    )
    values.update(
        hepatic_disease="none",
        suicide_attempts=False,
        medical_history="Appendectomy 2004.",
        current_medications="Sertraline 100 mg daily",
        allergies="None known",
        emergency_contact_name="Sam Rivera",
        emergency_contact_phone="555-0111",
        escort_name="Sam Rivera",
        escort_phone="555-0111",
        weight_kg=Decimal("70.0"),
        height_cm=Decimal("170.0"),
        baseline_systolic_mmhg=122,
        baseline_diastolic_mmhg=78,
    )
    values.update(overrides)
    return values


def submitted_intake(patient: Patient, **overrides: Any) -> Intake:
    """Written directly (no services, no audit), like tests/factories.py."""
    return Intake.objects.create(
        patient=patient,
        status=IntakeStatus.SUBMITTED,
        submitted_at=timezone.now(),
        **complete_answers(**overrides),
    )


def consent_all(patient: Patient, signer, countersigner) -> list[ConsentSignature]:
    """Signed and countersigned latest versions of every document, without PDFs."""
    now = timezone.now()
    return [
        ConsentSignature.objects.create(
            patient=patient,
            document=document,
            typed_name=patient.legal_name,
            agreed=True,
            signed_at=now,
            client_address="127.0.0.1",
            channel="web",
            signed_by=signer,
            countersigned_by=countersigner,
            countersigned_at=now,
        )
        for document in consent_documents_current()
    ]


def bookable_patient(patient: Patient, *, staff) -> Patient:
    """A patient `patient_may_be_booked` lets through: submitted intake without findings that
    block, a screening, and every current consent signed and countersigned. For other apps'
    tests (scheduling, orders). `patient` needs an accepted indication on the chart (PROT-1) and
    a linked user; `staff` is a nurse or prescriber at the patient's location."""
    from infusionclinic.intake.services import screening_run

    submitted_intake(patient)
    screening_run(actor=staff, patient=patient)
    consent_all(patient, patient.user, staff)
    return patient
