"""Reads of patient data, always scoped by the user. This module is the one place that decides
which patients a user may see; views and API handlers never query Patient directly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connections
from django.db.models import Q, QuerySet, Subquery
from django.db.models.functions import Collate
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import STAFF_ROLES, Perm, Role
from infusionclinic.common.access import denied
from infusionclinic.common.ids import id_from_path

from .models import (
    Allergy,
    BodyMeasurement,
    Diagnosis,
    EmergencyAccess,
    MeasurementKind,
    Medication,
    Patient,
    fold_for_search,
)

SEARCH_LIMIT = 50
MEASUREMENT_HISTORY = 10


def locations_for_user(*, user: User) -> QuerySet[Location]:
    if not user.is_active or user.role not in STAFF_ROLES:
        return Location.objects.none()
    return user.locations.all().order_by("name")


def patients_visible_to(*, user: User, now: datetime | None = None) -> QuerySet[Patient]:
    """Reads only the user's pk, role and active flag (and `now`, default the current time):
    `infusions.selectors.session_get_for_user` compiles it once per role on that basis."""
    if not user.is_authenticated or not user.is_active:
        return Patient.objects.none()
    if user.role == Role.PATIENT:
        return Patient.objects.filter(user=user)
    if user.role in STAFF_ROLES:
        emergency = EmergencyAccess.objects.filter(user=user, expires_at__gt=now or timezone.now())
        return Patient.objects.filter(
            Q(home_location__in=user.locations.all()) | Q(pk__in=emergency.values("patient_id"))
        )
    return Patient.objects.none()


def patient_get_for_user(*, user: User, patient_id: int | str) -> Patient:
    """The patient, if this user may see them; otherwise Http404, so ids cannot be probed, and a
    `denied` audit event records the attempt."""
    text = str(patient_id)
    pk = id_from_path(text)
    patient = (
        patients_visible_to(user=user)
        .select_related("home_location", "referring_provider")
        .filter(pk=pk)
        .first()
        if pk is not None
        else None
    )
    if patient is None:
        raise denied(user, "patients.Patient", patient_id, "No such patient.")
    return patient


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")
_MRN_RE = re.compile(r"^\d{9}$")


def _parse_date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    return None


_NAME_KEYS = ("family_name_key", "given_name_key", "preferred_name_key")


def _name_prefix(key: str) -> Q:
    """The word begins the family, the given or the preferred name."""
    match = Q()
    for field in _NAME_KEYS:
        match |= Q(**{f"{field}__startswith": key})
    return match


def _search_order(qs: QuerySet[Patient]) -> list[Any]:
    """Folded family name, folded given name, id — compared byte-wise on every database (SQLite's
    BINARY; COLLATE "C" on PostgreSQL, where the index `patient_name_order` holds this order)."""
    if connections[qs.db].vendor == "postgresql":
        return [Collate("family_name_key", "C"), Collate("given_name_key", "C"), "pk"]
    return ["family_name_key", "given_name_key", "pk"]


def patient_search(*, user: User, query: str, limit: int = SEARCH_LIMIT) -> list[Patient]:
    """Staff search by MRN (exact), date of birth (YYYY-MM-DD or MM/DD/YYYY) or name (each word a
    prefix of the given, preferred or family name). An empty query lists the first patients.
    Results come in the order of the folded family and given names ("müller" sorts as "muller")."""
    if not user.has_role_perm(Perm.PATIENT_SEARCH):
        return []
    qs = patients_visible_to(user=user).select_related("home_location")
    name_keys: list[str] = []
    for term in query.split():
        birth_date = _parse_date(term)
        if birth_date is not None:
            qs = qs.filter(birth_date=birth_date)
        elif _MRN_RE.match(term):
            qs = qs.filter(mrn=term)
        else:
            name_keys.append(fold_for_search(term))
    for key in name_keys[1:]:
        qs = qs.filter(_name_prefix(key))
    order = _search_order(qs)
    if not name_keys:
        return list(qs.order_by(*order)[:limit])
    first = name_keys[0]
    if not connections[qs.db].features.supports_slicing_ordering_in_compound:
        # SQLite (one clinic's data): one OR query, sorted.
        return list(qs.filter(_name_prefix(first)).order_by(*order)[:limit])
    # PostgreSQL: the first word may begin the family, the given or the preferred name. Each of
    # the three is read in result order from its index and cut at `limit`, and only those rows
    # are sorted: a common prefix ("smi" matching thousands of Smiths) costs a page, not a sort
    # of every match (issue 13 d; index `patient_name_order`).
    branches = [
        qs.filter(**{f"{field}__startswith": first}).order_by(*order).values("pk")[:limit]
        for field in _NAME_KEYS
    ]
    page = branches[0].union(*branches[1:], all=True)
    return list(
        Patient.objects.select_related("home_location").filter(pk__in=page).order_by(*order)[:limit]
    )


DEMOGRAPHICS = "demographics"
MEASUREMENTS = "measurements"
CLINICAL = "clinical"


@dataclass(frozen=True)
class ChartSections:
    """Which parts of a chart a role reads: every reader of a patient sees the demographics;
    `measurements` are weight and height (and what is derived from them); `clinical` is the rest
    (allergies, medications, diagnoses, vitals, orders, visits, questionnaires). The chart page,
    the API and FHIR all ask `chart_sections`, so one rule decides (issue 22 point 1)."""

    measurements: bool
    clinical: bool

    def shows(self, section: str) -> bool:
        if section == DEMOGRAPHICS:
            return True
        if section == MEASUREMENTS:
            return self.measurements
        return self.clinical


def chart_sections(*, user: User) -> ChartSections:
    """Front desk records weight and height but reads no clinical detail (minimum necessary)."""
    clinical = user.has_role_perm(Perm.CHART_VIEW_CLINICAL)
    return ChartSections(
        measurements=clinical or user.has_role_perm(Perm.MEASUREMENT_RECORD), clinical=clinical
    )


@dataclass(frozen=True)
class Chart:
    patient: Patient
    show_clinical: bool  # allergies, medications, diagnoses
    show_measurements: bool  # weight and height
    latest_weight: BodyMeasurement | None
    latest_height: BodyMeasurement | None
    measurements: list[BodyMeasurement]
    allergies: list[Allergy]
    medications: list[Medication]
    diagnoses: list[Diagnosis]


def _latest_measurements(patient: Patient) -> dict[str, BodyMeasurement]:
    """The latest weight and the latest height, in one query: each kind's newest id by the
    (patient, kind, -measured_on) index, as scalar subqueries of one `id IN (...)` lookup (an OR
    of two `IN (subquery)` would make PostgreSQL scan the whole table)."""
    newest = [
        Subquery(
            BodyMeasurement.objects.filter(patient=patient, kind=kind)
            .order_by("-measured_on", "-created_at")
            .values("pk")[:1]
        )
        for kind in MeasurementKind
    ]
    return {m.kind: m for m in BodyMeasurement.objects.filter(pk__in=newest).order_by()}


def patient_latest_measurements(
    *, user: User, patient: Patient
) -> tuple[BodyMeasurement | None, BodyMeasurement | None]:
    """(latest weight, latest height) for a role that sees measurements, else (None, None): what
    the API's patient read shows, without the rest of the chart."""
    if not chart_sections(user=user).measurements:
        return None, None
    latest = _latest_measurements(patient)
    return latest.get(MeasurementKind.WEIGHT), latest.get(MeasurementKind.HEIGHT)


def patient_chart(*, user: User, patient: Patient) -> Chart:
    """Everything the chart page shows, in a fixed number of queries whatever the history size."""
    sections = chart_sections(user=user)
    show_clinical = sections.clinical
    if not sections.measurements:
        return Chart(patient, False, False, None, None, [], [], [], [])
    measurements = list(
        BodyMeasurement.objects.filter(patient=patient).order_by("-measured_on", "-created_at")[
            :MEASUREMENT_HISTORY
        ]
    )
    latest = _latest_measurements(patient)
    return Chart(
        patient=patient,
        show_clinical=show_clinical,
        show_measurements=True,
        latest_weight=latest.get(MeasurementKind.WEIGHT),
        latest_height=latest.get(MeasurementKind.HEIGHT),
        measurements=measurements,
        allergies=list(Allergy.objects.filter(patient=patient)) if show_clinical else [],
        medications=list(Medication.objects.filter(patient=patient)) if show_clinical else [],
        diagnoses=list(Diagnosis.objects.filter(patient=patient)) if show_clinical else [],
    )
