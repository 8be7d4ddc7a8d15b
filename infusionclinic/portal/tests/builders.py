"""Data for the portal tests: a patient with a portal log-in at an open, staffed location, and
helpers that add what the home shows (appointments, scores from both sources, check-ins,
signed consent PDFs, invoices with payments)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.files.base import ContentFile
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.billing import services as billing
from infusionclinic.billing.models import BillingProvider, Price
from infusionclinic.billing.services import LineInput
from infusionclinic.billing.tests.factories import (
    billing_provider,
    completed_appointment,
    price,
)
from infusionclinic.courses import services as courses
from infusionclinic.courses.models import CheckIn, TreatmentCourse
from infusionclinic.intake.models import ConsentSignature
from infusionclinic.intake.selectors import consent_documents_current
from infusionclinic.outcomes.models import AssessmentSource
from infusionclinic.outcomes.services import assessment_submit
from infusionclinic.patients.models import Patient
from infusionclinic.scheduling.models import Appointment, Chair
from infusionclinic.scheduling.tests.factories import staffed_location
from tests.factories import PatientFactory, add_weight, make_user


@dataclass
class Portal:
    location: Location
    patient: Patient
    user: User
    nurse: User
    prescriber: User
    desk: User
    chairs: list[Chair]


def portal_patient(location: Location) -> Portal:
    """The first call opens and staffs the location; later ones reuse its chairs."""
    chairs = list(Chair.objects.filter(location=location)) or staffed_location(location)
    patient = PatientFactory(home_location=location, given_name="Rosa", family_name="Okafor")
    add_weight(patient, "70.0", timezone.localdate(timezone=location.tzinfo) - timedelta(days=2))
    user = make_user("patient", patient=patient)
    return Portal(
        location=location,
        patient=patient,
        user=user,
        nurse=make_user("nurse", location),
        prescriber=make_user("prescriber", location),
        desk=make_user("front_desk", location),
        chairs=chairs,
    )


def booked(p: Portal, *, starts_in: timedelta, kind: str = "follow_up") -> Appointment:
    """A booked appointment written directly (the booking checks are scheduling's tests)."""
    starts = (timezone.now() + starts_in).replace(second=0, microsecond=0)
    length = timedelta(hours=2) if kind == "infusion" else timedelta(minutes=30)
    return Appointment.objects.create(
        patient=p.patient,
        location=p.location,
        chair=p.chairs[0] if kind == "infusion" else None,
        kind=kind,
        starts_at=starts,
        ends_at=starts + length,
    )


def course(p: Portal) -> TreatmentCourse:
    return courses.course_start(
        actor=p.prescriber,
        patient=p.patient,
        indication="depression",
        started_at=timezone.now() - timedelta(days=30),
    )


def scores(p: Portal, *, clinic: list[int], home: list[int]) -> None:
    """PHQ-9 totals (item 9 kept at 0), clinic ones entered by the nurse, home ones answered by
    the patient as check-ins, one day apart, oldest first."""
    start = timezone.now() - timedelta(days=len(clinic) + len(home) + 1)
    for n, (total, source) in enumerate(
        [(t, AssessmentSource.CLINIC) for t in clinic]
        + [(t, AssessmentSource.HOME_CHECKIN) for t in home]
    ):
        answers = [min(3, max(0, total - 3 * i)) for i in range(8)] + [0]
        assert sum(answers) == total, "totals up to 24 with item 9 at 0"
        assessment_submit(
            actor=p.nurse if source == AssessmentSource.CLINIC else p.user,
            patient=p.patient,
            instrument_code="PHQ-9",
            answers=answers,
            completed_at=start + timedelta(days=n),
            source=source,
        )


def open_checkin(tc: TreatmentCourse, *, days_ago: int, code: str = "PHQ-9") -> CheckIn:
    due = (timezone.now() - timedelta(days=days_ago)).astimezone(UTC)
    return CheckIn.objects.create(
        course=tc,
        instrument_code=code,
        phase=tc.phase,
        every_days=7,
        due_on=due.date(),
        due_at=due,
    )


def signed_consents_with_pdf(p: Portal) -> list[ConsentSignature]:
    now = timezone.now()
    signatures = []
    for document in consent_documents_current():
        signature = ConsentSignature.objects.create(
            patient=p.patient,
            document=document,
            typed_name=p.patient.legal_name,
            agreed=True,
            signed_at=now,
            client_address="127.0.0.1",
            channel="web",
            signed_by=p.user,
            countersigned_by=p.prescriber,
            countersigned_at=now,
        )
        signature.pdf.save(f"consent-{signature.pk}.pdf", ContentFile(b"%PDF-1.4\n%%EOF\n"))
        signatures.append(signature)
    return signatures


def paid_visit(p: Portal, *, days_ago: int):  # noqa: ANN201
    """A completed follow-up with its invoice and a payment (a receipt and a superbill)."""
    if not BillingProvider.objects.filter(user=p.prescriber).exists():
        billing_provider(p.prescriber)
    if not Price.objects.filter(location=p.location, service__code="99214").exists():
        price(p.location, "99214", "150.00")
    day = timezone.localdate(timezone=p.location.tzinfo) - timedelta(days=days_ago)
    appointment = completed_appointment(p.patient, p.location, day=day, kind="follow_up")
    invoice = billing.invoice_create(
        actor=p.desk,
        appointment=appointment,
        lines=[LineInput("99214", 1)],
        rendering_provider=p.prescriber,
    )
    payment = billing.payment_record(
        actor=p.desk, invoice=invoice, amount="50.00", method="card", reference=f"slip {days_ago}"
    )
    return invoice, payment


def aware(day, hour: int, location: Location) -> datetime:  # noqa: ANN001
    return datetime.combine(day, datetime.min.time().replace(hour=hour), tzinfo=location.tzinfo)
