"""Which FHIR resources the clinic exposes, where each comes from, and how each is validated.

Each source turns a set of patients into resources by streaming a queryset (constant memory), so
the per-patient Bundle, `$everything`, Observation search and the bulk NDJSON export all share
one definition. A new capability registers its source here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from infusionclinic.dosing.models import DosingOrder, OrderStatus
from infusionclinic.messaging.fhir import communication_resource, communications_for
from infusionclinic.outcomes.models import Assessment, AssessmentStatus
from infusionclinic.outcomes.selectors import instruments_current
from infusionclinic.patients.models import BodyMeasurement, Diagnosis, MeasurementKind, Patient
from infusionclinic.scheduling.models import Appointment

from .mapping import (
    BMI_CODE,
    BODY_MEASUREMENT_CODES,
    VITAL_CODES,
    VITALS_PANEL,
    appointment_resource,
    bmi_resource,
    body_measurement_resource,
    condition_resource,
    encounter_resource,
    medication_administration_resource,
    medication_request_resource,
    patient_resource,
    prn_administration_resource,
    questionnaire_response_resource,
    score_observation_resource,
    vital_bp_resource,
    vital_hr_resource,
    vital_panel_resource,
    vital_rr_resource,
    vital_spo2_resource,
)

# fhir.resources ships R5 by default; its R4B models validate the R4 (4.0.1) resources served here
# (the resources used have the same shape in R4 and R4B).
MODELS: dict[str, Any] = {
    "Patient": FhirPatient,
    "Condition": Condition,
    "Observation": Observation,
    "Bundle": Bundle,
    "QuestionnaireResponse": QuestionnaireResponse,
    "MedicationRequest": MedicationRequest,
    "Appointment": FhirAppointment,
    "Encounter": Encounter,
    "MedicationAdministration": MedicationAdministration,
    "Communication": Communication,
}

CHUNK = 500


def _sessions(patients: QuerySet[Patient]) -> QuerySet[Any]:
    from infusionclinic.infusions.models import InfusionSession

    return (
        InfusionSession.objects.filter(patient__in=patients)
        .select_related("location", "order")
        .order_by("pk")
    )


def _administered(patients: QuerySet[Patient]) -> QuerySet[Any]:
    """Sessions whose pump was started: the ketamine was given."""
    # The dose given is computed from the pump events: one query per chunk, not per session.
    return _sessions(patients).filter(pump__action="start").distinct().prefetch_related("pump")


def _prn_given(patients: QuerySet[Patient]) -> QuerySet[Any]:
    """Issue 21 point 13: PRN medicines given in the chair under a standing order."""
    from infusionclinic.infusions.models import MedicationAdministration as PrnGiven

    return (
        PrnGiven.objects.filter(session__patient__in=patients)
        .select_related("session", "given_by", "standing_order_line")
        .order_by("pk")
    )


def _session_vitals(patients: QuerySet[Patient]) -> QuerySet[Any]:
    from infusionclinic.infusions.models import VitalSign

    # Only what the four vital-sign mappers read: not the session's own columns.
    return (
        VitalSign.objects.filter(session__patient__in=patients)
        .select_related("session")
        .only(
            "taken_at",
            "systolic_mmhg",
            "diastolic_mmhg",
            "heart_rate_bpm",
            "respiratory_rate",
            "spo2_pct",
            "session__patient_id",
        )
        .order_by("pk")
    )


def _weights_with_height(patients: QuerySet[Patient]) -> QuerySet[BodyMeasurement]:
    """Weights with the latest height measured on or before their date (CODE-V12 BMI)."""
    height = BodyMeasurement.objects.filter(
        patient=OuterRef("patient"),
        kind=MeasurementKind.HEIGHT,
        measured_on__lte=OuterRef("measured_on"),
    ).order_by("-measured_on", "-pk")
    return (
        BodyMeasurement.objects.filter(patient__in=patients, kind=MeasurementKind.WEIGHT)
        .annotate(
            height_cm=Subquery(height.values("value_si")[:1]),
            height_id=Subquery(height.values("pk")[:1]),
        )
        .filter(height_cm__isnull=False)
        .order_by("pk")
    )


def validate(resource: dict[str, Any]) -> dict[str, Any]:
    """Raise pydantic's ValidationError if the resource is not valid FHIR; return it unchanged."""
    MODELS[resource["resourceType"]].model_validate(resource)
    return resource


def validate_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """Each entry's resource against its own model, then the envelope with the entries' other
    elements. (Validating the Bundle whole would check every resource a second time: measured,
    it more than doubled the time of a patient's bundle.) Returns the bundle unchanged."""
    entries = bundle.get("entry", [])
    for entry in entries:
        validate(entry["resource"])
    envelope = [{k: v for k, v in entry.items() if k != "resource"} for entry in entries]
    validate({**bundle, "entry": envelope} if entries else bundle)
    return bundle


@dataclass(frozen=True)
class Source:
    resource_type: str
    queryset: Callable[[QuerySet[Patient]], QuerySet[Any]]
    to_resource: Callable[[Any], dict[str, Any]]
    # For Observation search: LOINC code -> filter, and the date field.
    # LOINC code -> queryset filter, or a function giving that map (read when searching).
    codes: dict[str, dict[str, Any]] | Callable[[], dict[str, dict[str, Any]]] | None = None
    date_field: str | None = None

    def search(
        self,
        patients: QuerySet[Patient],
        *,
        code: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
    ) -> QuerySet[Any] | None:
        qs = self.queryset(patients)
        if code:
            codes = self.codes() if callable(self.codes) else self.codes
            if not codes or code not in codes:
                return None
            qs = qs.filter(**codes[code])
        if self.date_field and date_from:
            qs = qs.filter(**{f"{self.date_field}__gte": date_from})
        if self.date_field and date_to:
            qs = qs.filter(**{f"{self.date_field}__lte": date_to})
        return qs


def _submitted(patients: QuerySet[Patient]) -> QuerySet[Assessment]:
    return (
        Assessment.objects.filter(patient__in=patients, status=AssessmentStatus.SUBMITTED)
        .select_related("instrument")
        .order_by("pk")
    )


SOURCES: list[Source] = [
    Source(
        "Patient",
        lambda patients: patients.order_by("pk"),
        patient_resource,
    ),
    Source(
        "Condition",
        lambda patients: Diagnosis.objects.filter(patient__in=patients).order_by("pk"),
        condition_resource,
    ),
    Source(
        "Observation",
        lambda patients: BodyMeasurement.objects.filter(patient__in=patients).order_by("pk"),
        body_measurement_resource,
        codes={loinc: {"kind": kind} for kind, (loinc, _, _) in BODY_MEASUREMENT_CODES.items()},
        date_field="measured_on",
    ),
    Source(
        "Observation",
        _weights_with_height,
        bmi_resource,
        codes={BMI_CODE[0]: {}},
        date_field="measured_on",
    ),
    Source(
        "Observation",
        _submitted,
        score_observation_resource,
        codes=lambda: _score_codes(),
        date_field="completed_at__date",
    ),
    Source(
        "QuestionnaireResponse",
        _submitted,
        questionnaire_response_resource,
    ),
    Source(
        "MedicationRequest",
        lambda patients: DosingOrder.objects.filter(
            patient__in=patients, status=OrderStatus.SIGNED
        ).order_by("pk"),
        medication_request_resource,
    ),
    Source(
        "Appointment",
        lambda patients: (
            Appointment.objects.filter(patient__in=patients)
            .select_related("location")
            .order_by("pk")
        ),
        appointment_resource,
    ),
    Source("Encounter", lambda patients: _sessions(patients), encounter_resource),
    Source(
        "MedicationAdministration",
        lambda patients: _administered(patients),
        medication_administration_resource,
    ),
    Source("MedicationAdministration", _prn_given, prn_administration_resource),
    # Infusion-session vital signs: one Observation per measure and reading (codes.md CODE-V2..8).
    *[
        Source(
            "Observation",
            _session_vitals,
            to_resource,
            codes={VITAL_CODES[key][0]: {} for key in keys},
            date_field="taken_at__date",
        )
        for to_resource, keys in (
            (vital_bp_resource, ("bp",)),
            (vital_hr_resource, ("hr",)),
            (vital_rr_resource, ("rr",)),
            (vital_spo2_resource, ("spo2", "spo2_pulse_ox")),
        )
    ],
    # CODE-V1: the reading as a vital-signs panel with the four above as members.
    Source(
        "Observation",
        _session_vitals,
        vital_panel_resource,
        codes={VITALS_PANEL[0]: {}},
        date_field="taken_at__date",
    ),
    # Issue 18 section 3: secure messages (messaging/fhir.py maps them).
    Source("Communication", communications_for, communication_resource),
]


def _score_codes() -> dict[str, dict[str, Any]]:
    """Each instrument's LOINC total code (codes.md CODE-S2, S4, S5, S6) -> its assessments."""
    return {
        definition.spec.loinc["total"]: {"instrument__code": definition.code}
        for definition in instruments_current()
        if definition.spec.loinc.get("total")
    }


def resources_for(
    patients: QuerySet[Patient], *, resource_type: str | None = None, stream: bool = True
) -> Iterator[dict[str, Any]]:
    """Every resource of these patients, source by source. Sources that read the same queryset
    (the four vital-sign Observations of a reading; a questionnaire's score and its response)
    read it once. `stream` reads in chunks through a server-side cursor (constant memory, for the
    bulk export); without it one query per queryset (a single patient's record)."""
    sources = [s for s in SOURCES if not resource_type or s.resource_type == resource_type]
    for _, group in itertools.groupby(sources, key=lambda source: source.queryset):
        readers = list(group)
        rows = readers[0].queryset(patients)
        for obj in rows.iterator(chunk_size=CHUNK) if stream else rows:
            for source in readers:
                yield source.to_resource(obj)


def resource_types() -> list[str]:
    return sorted({source.resource_type for source in SOURCES})


def collection_bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:infusionclinic:{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources
        ],
    }
