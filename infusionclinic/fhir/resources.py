"""Which FHIR resources the clinic exposes, where each comes from, and how each is validated.

Each source turns a set of patients into resources by streaming a queryset (constant memory), so
the per-patient Bundle, `$everything`, Observation search and the bulk NDJSON export all share
one definition. A new capability registers its source here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.location import Location as FhirLocation
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from infusionclinic.accounts.models import Location, User
from infusionclinic.dosing.models import DosingOrder, OrderStatus
from infusionclinic.messaging.fhir import (
    communication_resource,
    communications_for,
    communications_visible_to,
)
from infusionclinic.outcomes.models import Assessment, AssessmentStatus
from infusionclinic.outcomes.selectors import instruments_current
from infusionclinic.patients.icd10 import SYSTEM_URI as ICD10CM
from infusionclinic.patients.models import BodyMeasurement, Diagnosis, MeasurementKind, Patient
from infusionclinic.patients.selectors import CLINICAL, DEMOGRAPHICS, MEASUREMENTS, ChartSections
from infusionclinic.scheduling.models import Appointment

from .mapping import (
    APPOINTMENT_STATUS,
    BMI_CODE,
    BODY_MEASUREMENT_CODES,
    ENCOUNTER_STATUS,
    LOINC,
    OBSERVATION_CATEGORY,
    RXNORM,
    VITAL_CODES,
    VITALS_PANEL,
    appointment_resource,
    bmi_resource,
    body_measurement_resource,
    condition_resource,
    encounter_resource,
    ketamine_concept,
    location_resource,
    medication_administration_resource,
    medication_request_resource,
    patient_resource,
    practitioner_resource,
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
    "Practitioner": Practitioner,
    "Location": FhirLocation,
    "Communication": Communication,
    "OperationOutcome": OperationOutcome,
    "CapabilityStatement": CapabilityStatement,
}

CHUNK = 500


def _sessions(patients: QuerySet[Patient]) -> QuerySet[Any]:
    from infusionclinic.infusions.models import InfusionSession

    return (
        InfusionSession.objects.filter(patient__in=patients)
        .select_related("location", "order")
        .order_by("pk")
    )


def _with_pump(qs: QuerySet[Any]) -> QuerySet[Any]:
    """The pump events with who recorded them (the performer): one query per chunk."""
    from infusionclinic.infusions.models import PumpEvent

    return qs.prefetch_related(
        Prefetch("pump", queryset=PumpEvent.objects.select_related("actor").order_by("at", "pk"))
    )


def _encounters(patients: QuerySet[Patient]) -> QuerySet[Any]:
    # `fhir_start` is period.start, the field the `date` search reads.
    return _with_pump(
        _sessions(patients)
        .select_related("discharged_by")
        .annotate(fhir_start=Coalesce("checked_in_at", "scheduled_at"))
    )


def _administered(patients: QuerySet[Patient]) -> QuerySet[Any]:
    """Sessions whose pump was started: the ketamine was given."""
    # The dose given is computed from the pump events: one query per chunk, not per session.
    return _with_pump(_sessions(patients).filter(pump__action="start").distinct())


def _practitioners(patients: QuerySet[Patient]) -> QuerySet[Any]:
    """The staff a record names: who signed an order, started a pump, discharged, gave a PRN."""
    from infusionclinic.infusions.models import MedicationAdministration as PrnGiven
    from infusionclinic.infusions.models import PumpEvent

    sessions = _sessions(patients).order_by()
    named = (
        Q(
            pk__in=DosingOrder.objects.filter(
                patient__in=patients, status=OrderStatus.SIGNED
            ).values("signed_by")
        )
        | Q(pk__in=PumpEvent.objects.filter(session__in=sessions, action="start").values("actor"))
        | Q(pk__in=sessions.filter(discharged_by__isnull=False).values("discharged_by"))
        | Q(pk__in=PrnGiven.objects.filter(session__patient__in=patients).values("given_by"))
    )
    return User.objects.filter(named).select_related("billing_provider").order_by("pk")


def _locations(patients: QuerySet[Patient]) -> QuerySet[Location]:
    """The locations a record names: of its visits and appointments."""
    return Location.objects.filter(
        Q(pk__in=_sessions(patients).order_by().values("location"))
        | Q(pk__in=Appointment.objects.filter(patient__in=patients).values("location"))
    ).order_by("pk")


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


def interval_q(field: str, is_date: bool, prefix: str, low: Any, high: Any) -> Q:
    """One date-search value against `field`: [low, high) is the value's own range (a day, a
    month, a year, or an instant); `is_date` compares calendar dates."""
    if is_date:
        low = timezone.localtime(low).date()
        end = timezone.localtime(high)
        high = end.date() + timedelta(days=0 if end.time() == time.min else 1)
    if prefix == "eq":
        return Q(**{f"{field}__gte": low, f"{field}__lt": high})
    if prefix == "ne":
        return ~Q(**{f"{field}__gte": low, f"{field}__lt": high})
    if prefix == "ge":
        return Q(**{f"{field}__gte": low})
    if prefix == "gt":
        return Q(**{f"{field}__gte": high})
    if prefix == "le":
        return Q(**{f"{field}__lt": high})
    return Q(**{f"{field}__lt": low})  # lt


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
class Criteria:
    """A parsed search (search.py): each list is an OR of values; `dates` an AND of such ORs.
    None means the parameter was not given. Tokens are (system or None, code)."""

    ids: list[str] | None = None
    codes: list[tuple[str | None, str]] | None = None
    categories: list[tuple[str | None, str]] | None = None
    statuses: list[str] | None = None
    dates: list[list[tuple[str, Any, Any]]] | None = None


CodeMap = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Source:
    resource_type: str
    queryset: Callable[[QuerySet[Patient]], QuerySet[Any]]
    to_resource: Callable[[Any], dict[str, Any]]
    # Code search: code -> queryset filter, or a function giving that map (read when searching),
    # in `code_system`; or `code_field`, a column holding the code itself.
    codes: CodeMap | Callable[[], CodeMap] | None = None
    date_field: str | None = None
    # The resource id is `id_prefix` + the row's pk (read by id).
    id_prefix: str = ""
    # The chart section the resource belongs to (patients.selectors.chart_sections decides).
    section: str = CLINICAL
    code_system: str | None = None
    code_field: str | None = None
    category: tuple[str, str] | None = None  # (system, code) of the one category it carries
    statuses: dict[str, dict[str, Any]] | None = None  # FHIR status -> queryset filter
    # A rule finer than the chart section: (rows, user) -> the rows this user may read.
    restrict: Callable[[QuerySet[Any], Any], QuerySet[Any]] | None = None

    def rows(self, patients: QuerySet[Patient], user: Any = None) -> QuerySet[Any]:
        """This source's rows of these patients, as `user` may read them (None: the clinic's
        own export, every row)."""
        qs = self.queryset(patients)
        return self.restrict(qs, user) if self.restrict is not None and user is not None else qs

    def pk_of(self, resource_id: str) -> int | None:
        """The row's pk if `resource_id` is one of this source's ids."""
        rest = (
            resource_id.removeprefix(self.id_prefix)
            if resource_id.startswith(self.id_prefix)
            else ""
        )
        if not rest or len(rest) > 18 or not rest.isascii() or not rest.isdigit():
            return None
        return int(rest)

    def _code_q(self, tokens: list[tuple[str | None, str]]) -> Q | None:
        wanted = [code for system, code in tokens if system in (None, "", self.code_system)]
        if self.code_field:
            return Q(**{f"{self.code_field}__in": wanted}) if wanted else None
        codes = (self.codes() if callable(self.codes) else self.codes) or {}
        match = None
        for code in wanted:
            if code in codes:
                match = Q(**codes[code]) if match is None else match | Q(**codes[code])
        return match

    def search(
        self, patients: QuerySet[Patient], criteria: Criteria, user: Any = None
    ) -> QuerySet[Any] | None:
        """The rows `user` may read matching every criterion, or None when none can (an id,
        code, category or status this source never carries)."""
        qs = self.rows(patients, user)
        if criteria.ids is not None:
            pks = [pk for pk in (self.pk_of(i) for i in criteria.ids) if pk is not None]
            if not pks:
                return None
            qs = qs.filter(pk__in=pks)
        if criteria.codes is not None:
            code_q = self._code_q(criteria.codes)
            if code_q is None:
                return None
            qs = qs.filter(code_q)
        if criteria.categories is not None and (
            self.category is None
            or not any(
                system in (None, "", self.category[0]) and code == self.category[1]
                for system, code in criteria.categories
            )
        ):
            return None
        if criteria.statuses is not None:
            filters = [self.statuses[s] for s in criteria.statuses if s in (self.statuses or {})]
            if not filters:
                return None
            status_q = Q(**filters[0])
            for extra in filters[1:]:
                status_q |= Q(**extra)
            qs = qs.filter(status_q)
        for alternatives in criteria.dates or []:
            if not self.date_field:
                return None
            try:
                column = qs.model._meta.get_field(self.date_field)
            except FieldDoesNotExist:  # an annotation (Encounter's period start)
                column = None
            is_date = column is not None and column.get_internal_type() == "DateField"
            date_q = Q()
            for i, (prefix, low, high) in enumerate(alternatives):
                one = interval_q(self.date_field, is_date, prefix, low, high)
                date_q = one if i == 0 else date_q | one
            qs = qs.filter(date_q)
        return qs


def _submitted(patients: QuerySet[Patient]) -> QuerySet[Assessment]:
    return (
        Assessment.objects.filter(patient__in=patients, status=AssessmentStatus.SUBMITTED)
        .select_related("instrument")
        .order_by("pk")
    )


VITAL_SIGNS = (OBSERVATION_CATEGORY, "vital-signs")
SURVEY = (OBSERVATION_CATEGORY, "survey")
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"

# Encounter status -> the session states mapped to it (mapping.ENCOUNTER_STATUS).
_ENCOUNTER_STATES: dict[str, list[str]] = {}
for _state, _status in ENCOUNTER_STATUS.items():
    _ENCOUNTER_STATES.setdefault(_status, []).append(_state)


def _medication_codes() -> CodeMap:
    """The one medication served (all signed orders): its code as sent (SCD or ingredient)."""
    return {coding["code"]: {} for coding in ketamine_concept()["coding"]}


SOURCES: list[Source] = [
    Source(
        "Patient",
        lambda patients: patients.order_by("pk"),
        patient_resource,
        section=DEMOGRAPHICS,
    ),
    Source(
        "Condition",
        lambda patients: Diagnosis.objects.filter(patient__in=patients).order_by("pk"),
        condition_resource,
        code_system=ICD10CM,
        code_field="code",
        category=(CONDITION_CATEGORY, "problem-list-item"),
        statuses={"active": {}},  # clinical-status: every chart diagnosis is active
        date_field="noted_on",  # onset-date
    ),
    Source(
        "Observation",
        lambda patients: BodyMeasurement.objects.filter(patient__in=patients).order_by("pk"),
        body_measurement_resource,
        codes={loinc: {"kind": kind} for kind, (loinc, _, _) in BODY_MEASUREMENT_CODES.items()},
        date_field="measured_on",
        id_prefix="bm-",
        section=MEASUREMENTS,
        code_system=LOINC,
        category=VITAL_SIGNS,
    ),
    Source(
        "Observation",
        _weights_with_height,
        bmi_resource,
        codes={BMI_CODE[0]: {}},
        date_field="measured_on",
        id_prefix="bmi-",
        section=MEASUREMENTS,
        code_system=LOINC,
        category=VITAL_SIGNS,
    ),
    Source(
        "Observation",
        _submitted,
        score_observation_resource,
        codes=lambda: _score_codes(),
        date_field="completed_at",
        id_prefix="score-",
        code_system=LOINC,
        category=SURVEY,
    ),
    Source(
        "QuestionnaireResponse",
        _submitted,
        questionnaire_response_resource,
        date_field="completed_at",  # authored
        id_prefix="qr-",
    ),
    Source(
        "MedicationRequest",
        lambda patients: (
            DosingOrder.objects.filter(patient__in=patients, status=OrderStatus.SIGNED)
            .select_related("signed_by")
            .order_by("pk")
        ),
        medication_request_resource,
        codes=_medication_codes,
        date_field="signed_at",  # authoredon
        id_prefix="order-",
        code_system=RXNORM,
        statuses={"active": {}},  # only signed orders are served
    ),
    Source(
        "Appointment",
        lambda patients: (
            Appointment.objects.filter(patient__in=patients)
            .select_related("location")
            .order_by("pk")
        ),
        appointment_resource,
        date_field="starts_at",
        id_prefix="appt-",
        statuses={fhir: {"status": ours} for ours, fhir in APPOINTMENT_STATUS.items()},
    ),
    Source(
        "Encounter",
        _encounters,
        encounter_resource,
        date_field="fhir_start",
        id_prefix="session-",
        statuses={status: {"state__in": states} for status, states in _ENCOUNTER_STATES.items()},
    ),
    Source(
        "MedicationAdministration",
        lambda patients: _administered(patients),
        medication_administration_resource,
        id_prefix="admin-",
    ),
    Source("MedicationAdministration", _prn_given, prn_administration_resource, id_prefix="prn-"),
    # Infusion-session vital signs: one Observation per measure and reading (codes.md CODE-V2..8).
    *[
        Source(
            "Observation",
            _session_vitals,
            to_resource,
            codes={VITAL_CODES[key][0]: {} for key in keys},
            date_field="taken_at",
            id_prefix=f"vs-{kind}-",
            code_system=LOINC,
            category=VITAL_SIGNS,
        )
        for to_resource, kind, keys in (
            (vital_bp_resource, "bp", ("bp",)),
            (vital_hr_resource, "hr", ("hr",)),
            (vital_rr_resource, "rr", ("rr",)),
            (vital_spo2_resource, "spo2", ("spo2", "spo2_pulse_ox")),
        )
    ],
    # CODE-V1: the reading as a vital-signs panel with the four above as members.
    Source(
        "Observation",
        _session_vitals,
        vital_panel_resource,
        codes={VITALS_PANEL[0]: {}},
        date_field="taken_at",
        id_prefix="vspanel-",
        code_system=LOINC,
        category=VITAL_SIGNS,
    ),
    # Issue 22 point 8: the clinicians and places the record names (referenced above).
    Source("Practitioner", _practitioners, practitioner_resource),
    Source("Location", _locations, location_resource),
    # Issue 18 section 3: secure messages (messaging/fhir.py maps them), restricted further to
    # the threads the reader's role may open (messaging's one rule: admins read none).
    Source(
        "Communication",
        communications_for,
        communication_resource,
        date_field="created_at",
        restrict=communications_visible_to,
    ),
]


def _score_codes() -> dict[str, dict[str, Any]]:
    """Each instrument's LOINC total code (codes.md CODE-S2, S4, S5, S6) -> its assessments."""
    return {
        definition.spec.loinc["total"]: {"instrument__code": definition.code}
        for definition in instruments_current()
        if definition.spec.loinc.get("total")
    }


def sources_shown(sections: ChartSections | None) -> list[Source]:
    """The sources a reader with these chart sections sees (None: all, for the clinic's own
    export)."""
    return [s for s in SOURCES if sections is None or sections.shows(s.section)]


def resources_for(
    patients: QuerySet[Patient],
    *,
    resource_type: str | None = None,
    stream: bool = True,
    sections: ChartSections | None = None,
    user: Any = None,
) -> Iterator[dict[str, Any]]:
    """Every resource of these patients, source by source. Sources that read the same queryset
    (the four vital-sign Observations of a reading; a questionnaire's score and its response)
    read it once. `stream` reads in chunks through a server-side cursor (constant memory, for the
    bulk export); without it one query per queryset (a single patient's record)."""
    sources = [
        s for s in sources_shown(sections) if not resource_type or s.resource_type == resource_type
    ]
    for _, group in itertools.groupby(sources, key=lambda source: source.queryset):
        readers = list(group)
        rows = readers[0].rows(patients, user)
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
