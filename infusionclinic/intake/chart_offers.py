"""Intake answers into the chart (issue 21 point 3).

What the patient typed in the intake (weight, height, emergency contact, usual escort) and the
ICD-10-CM codes of their accepted referrals are not chart data until staff accept them: the
chart is what dosing (WT-8), check-in (PRE-5) and the progress report read. Once the intake is
submitted, each is offered on the chart and on the intake page; "Accept into the chart" writes
it through the patients services (so their capability checks, validation, audit events and
re-screening apply) and keeps an `IntakeChartTransfer`, so the same value is not offered twice.

Who may accept what is the roles table's: weight and height `MEASUREMENT_RECORD`, contacts
`PATIENT_EDIT_DEMOGRAPHICS`, diagnoses `DIAGNOSIS_EDIT` (prescribers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients import services as patient_services
from infusionclinic.patients.icd10 import Icd10Error, icd10_lookup_billable
from infusionclinic.patients.models import BodyMeasurement, Diagnosis, MeasurementKind, Patient

from .models import ChartItem, Intake, IntakeChartTransfer, IntakeStatus, Referral, ReferralStatus

ITEM_PERM = {
    ChartItem.WEIGHT: Perm.MEASUREMENT_RECORD,
    ChartItem.HEIGHT: Perm.MEASUREMENT_RECORD,
    ChartItem.EMERGENCY_CONTACT: Perm.PATIENT_EDIT_DEMOGRAPHICS,
    ChartItem.ESCORT: Perm.PATIENT_EDIT_DEMOGRAPHICS,
    ChartItem.DIAGNOSIS: Perm.DIAGNOSIS_EDIT,
}
# Intake field -> (chart item, kind, unit) for the measurements.
MEASURED = {
    "weight_kg": (ChartItem.WEIGHT, MeasurementKind.WEIGHT, "kg"),
    "height_cm": (ChartItem.HEIGHT, MeasurementKind.HEIGHT, "cm"),
}
MEASURED_KIND = {item: kind for item, kind, _ in MEASURED.values()}
# Chart item -> (intake name field, intake phone field, patient name field, patient phone field).
CONTACTS = {
    ChartItem.EMERGENCY_CONTACT: (
        "emergency_contact_name",
        "emergency_contact_phone",
        "emergency_contact_name",
        "emergency_contact_phone",
    ),
    ChartItem.ESCORT: ("escort_name", "escort_phone", "escort_name", "escort_phone"),
}


@dataclass(frozen=True)
class ChartOffer:
    """One thing the intake or a referral offers to the chart, as staff see it."""

    key: str  # "weight", "emergency_contact", "diagnosis:F33.2": what the accept form posts
    item: ChartItem
    offered: str  # what the intake (or referral) says, in words
    on_chart: str  # what the chart holds now
    value: dict[str, str]  # what accepting writes
    perm: Perm
    referral_id: int | None = None
    measured_on: date | None = None

    @property
    def label(self) -> str:
        return ChartItem(self.item).label


def _squash(text: str) -> str:
    return " ".join(text.split())


def _local_date(moment: datetime, patient: Patient) -> date:
    return timezone.localdate(moment, timezone=patient.home_location.tzinfo)


def _reported_at(intake: Intake, field: str, amendments: list[tuple[datetime, dict]]) -> datetime:
    """When the patient (or staff, amending) last gave this answer."""
    moments = [at for at, changes in amendments if field in changes]
    return max([intake.submitted_at or intake.updated_at, *moments])


def _contact_text(name: str, phone: str) -> str:
    return ", ".join(part for part in (name, phone) if part) or "not recorded"


def chart_offers(*, patient: Patient) -> list[ChartOffer]:
    """Everything on offer for this patient's chart, whoever looks (a fixed number of queries,
    whatever the history). Intake items only once the intake is submitted."""
    offers: list[ChartOffer] = []
    transfers = list(IntakeChartTransfer.objects.filter(patient=patient))
    taken = {(t.item, tuple(sorted(t.value.items()))) for t in transfers}
    transferred_rows = {t.chart_object_id for t in transfers if t.chart_object_id}
    intake = Intake.objects.filter(patient=patient, status=IntakeStatus.SUBMITTED).first()
    if intake is not None:
        amendments = list(intake.amendments.values_list("amended_at", "changes"))
        for field, (item, kind, unit) in MEASURED.items():
            number: Decimal | None = getattr(intake, field)
            if number is None:
                continue
            measured_on = _local_date(_reported_at(intake, field, amendments), patient)
            value = {"value": str(number), "unit": unit}
            if (item, tuple(sorted(value.items()))) in taken:
                continue
            latest = (
                BodyMeasurement.objects.filter(patient=patient, kind=kind)
                .order_by("-measured_on", "-created_at")
                .first()
            )
            # A measurement taken on the day of the answer or later is better than what the
            # patient reported (the chart's measured values take precedence, as in screening).
            if (
                latest is not None
                and latest.measured_on >= measured_on
                and latest.pk not in transferred_rows
            ):
                continue
            offers.append(
                ChartOffer(
                    key=item.value,
                    item=item,
                    offered=f"{number} {unit}, reported on {measured_on:%Y-%m-%d}",
                    on_chart=(
                        f"{latest.value_si} {latest.si_unit} on {latest.measured_on:%Y-%m-%d}"
                        if latest
                        else "not recorded"
                    ),
                    value=value,
                    perm=ITEM_PERM[item],
                    measured_on=measured_on,
                )
            )
        for item, (name_field, phone_field, chart_name, chart_phone) in CONTACTS.items():
            name, phone = (
                _squash(getattr(intake, name_field)),
                _squash(getattr(intake, phone_field)),
            )
            if not name and not phone:
                continue
            value = {"name": name, "phone": phone}
            current = (
                _squash(getattr(patient, chart_name)),
                _squash(getattr(patient, chart_phone)),
            )
            if current == (name, phone) or (item, tuple(sorted(value.items()))) in taken:
                continue
            offers.append(
                ChartOffer(
                    key=item.value,
                    item=item,
                    offered=_contact_text(name, phone),
                    on_chart=_contact_text(*current),
                    value=value,
                    perm=ITEM_PERM[item],
                )
            )
    on_chart = set(Diagnosis.objects.filter(patient=patient).values_list("code", flat=True))
    seen: set[str] = set()
    for referral_id, codes in Referral.objects.filter(
        patient=patient, status=ReferralStatus.ACCEPTED
    ).values_list("pk", "diagnosis_codes"):
        for code in codes:
            if code in on_chart or code in seen:
                continue
            seen.add(code)
            try:
                description = icd10_lookup_billable(code).description
            except Icd10Error:  # the table was replaced and no longer holds it
                continue
            offers.append(
                ChartOffer(
                    key=f"diagnosis:{code}",
                    item=ChartItem.DIAGNOSIS,
                    offered=f"{code} {description}",
                    on_chart="not on the chart",
                    value={"code": code},
                    perm=ITEM_PERM[ChartItem.DIAGNOSIS],
                    referral_id=referral_id,
                )
            )
    return offers


def intake_chart_offers(*, user: User, patient: Patient) -> list[tuple[ChartOffer, bool]]:
    """The offers this user is shown, each with whether they may accept it. `patient` comes
    from `patient_get_for_user`. Staff see the items their role may accept; a nurse also sees
    the referral's diagnoses (read, a prescriber accepts them); a patient sees none."""
    if user.role == Role.PATIENT:
        return []
    shown = []
    for offer in chart_offers(patient=patient):
        may = user.has_role_perm(offer.perm)
        if may or (
            offer.item == ChartItem.DIAGNOSIS and user.has_role_perm(Perm.CHART_VIEW_CLINICAL)
        ):
            shown.append((offer, may))
    return shown


@transaction.atomic
def intake_offer_accept(*, actor: User, patient: Patient, key: str) -> IntakeChartTransfer:
    """Accept one offer into the chart (one click). The offer is computed again under the
    patient's row lock, so a double click or a changed chart accepts nothing twice."""
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    offer = next((o for o in chart_offers(patient=patient) if o.key == key), None)
    if offer is None:
        raise ValidationError(
            {"item": ["Nothing to accept: it is on the chart already or no longer offered."]}
        )
    if not actor.has_role_perm(offer.perm):
        raise PermissionDenied(f"Your role may not do this ({offer.perm}).")
    chart_object_id = None
    if offer.item in (ChartItem.WEIGHT, ChartItem.HEIGHT):
        measurement = patient_services.measurement_record(
            actor=actor,
            patient=patient,
            kind=MeasurementKind.WEIGHT
            if offer.item == ChartItem.WEIGHT
            else MeasurementKind.HEIGHT,
            value=offer.value["value"],
            unit=offer.value["unit"],
            measured_on=offer.measured_on,
        )
        chart_object_id = measurement.pk
    elif offer.item in CONTACTS:
        _, _, chart_name, chart_phone = CONTACTS[ChartItem(offer.item)]
        current = Patient.objects.get(pk=patient.pk)
        patient_services.patient_update(
            actor=actor,
            patient=current,
            expected_version=current.version,
            changes={chart_name: offer.value["name"], chart_phone: offer.value["phone"]},
        )
    else:
        has_primary = Diagnosis.objects.filter(patient=patient, is_primary=True).exists()
        diagnosis = patient_services.diagnosis_add(
            actor=actor,
            patient=patient,
            code=offer.value["code"],
            # The referral's first code becomes the primary diagnosis of a chart that has none.
            is_primary=not has_primary,
        )
        chart_object_id = diagnosis.pk
    transfer = IntakeChartTransfer.objects.create(
        patient=patient,
        item=offer.item,
        value=offer.value,
        referral_id=offer.referral_id,
        chart_object_id=chart_object_id,
        accepted_by=actor,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=transfer,
        detail={
            "item": offer.item,
            "source": "referral" if offer.referral_id else "intake",
            **({"referral": offer.referral_id} if offer.referral_id else {}),
            **({"chart_object": chart_object_id} if chart_object_id else {}),
        },
    )
    return transfer
