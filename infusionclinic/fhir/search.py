"""FHIR search parameters: which each resource type supports, and how their values parse.

Unknown or unsupported parameters (and modifiers) are refused with 400 (FHIR's
`handling=strict`, the default here) unless the client sends `Prefer: handling=lenient`, when
they are ignored and left out of the `self` link. A comma is an OR within one parameter; a
repeated parameter is an AND (`date=ge2026-01-01&date=le2026-01-31`). Issue 22 point 7.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from infusionclinic.patients.models import Patient, fold_for_search

from .mapping import FHIR_GENDER, mrn_system
from .resources import Criteria, interval_q

# Parameters every search accepts: paging and the (JSON-only) format.
CONTROL = ("_count", "_offset", "_format")
JSON_FORMATS = ("json", "application/json", "application/fhir+json")

_PATIENT_LINKED = {"_id": "token", "patient": "reference", "subject": "reference"}

# resource type -> parameter -> FHIR search parameter type (for the CapabilityStatement).
SEARCH_PARAMS: dict[str, dict[str, str]] = {
    "Patient": {
        "_id": "token",
        "identifier": "token",
        "name": "string",
        "family": "string",
        "given": "string",
        "birthdate": "date",
        "gender": "token",
    },
    "Observation": {**_PATIENT_LINKED, "code": "token", "category": "token", "date": "date"},
    "Condition": {
        **_PATIENT_LINKED,
        "code": "token",
        "category": "token",
        "clinical-status": "token",
        "onset-date": "date",
    },
    "MedicationRequest": {
        **_PATIENT_LINKED,
        "code": "token",
        "status": "token",
        "intent": "token",
        "authoredon": "date",
    },
    "Encounter": {**_PATIENT_LINKED, "status": "token", "date": "date"},
    "QuestionnaireResponse": {**_PATIENT_LINKED, "authored": "date"},
    "Appointment": {"_id": "token", "patient": "reference", "status": "token", "date": "date"},
    "MedicationAdministration": dict(_PATIENT_LINKED),
    "Practitioner": {"_id": "token"},
    "Location": {"_id": "token"},
    "Communication": {**_PATIENT_LINKED, "sent": "date"},
}

# Which Criteria field a parameter fills (dates and statuses by their kind).
_STATUS_PARAMS = ("status", "clinical-status")
_DATE_PARAMS = ("date", "onset-date", "authoredon", "authored", "birthdate", "sent")


class SearchError(ValueError):
    """A parameter this server does not support, or a malformed value: 400 OperationOutcome."""


@dataclass
class ParsedSearch:
    criteria: Criteria
    patient_refs: list[list[str]]  # each an OR of patient ids; AND between them
    patient_filter: Q | None = None  # Patient search only
    used: list[tuple[str, str]] = field(default_factory=list)  # for the self and next links


def _split(value: str) -> list[str]:
    """A comma is an OR; `\\,` is a literal comma."""
    parts = re.split(r"(?<!\\),", value)
    return [part.replace("\\,", ",") for part in parts if part != ""]


def _token(value: str) -> tuple[str | None, str]:
    if "|" in value:
        system, code = value.split("|", 1)
        return system, code
    return None, value


_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")


def _date_value(raw: str) -> tuple[str, datetime, datetime]:
    """`[prefix]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]]` -> (prefix, start, end) of the value's own
    range, aware (no zone: the server's)."""
    prefix, text = (raw[:2], raw[2:]) if raw[:2].isalpha() else ("eq", raw)
    if prefix not in _PREFIXES:
        raise SearchError(
            f"Unsupported date prefix {prefix!r} (supported: {', '.join(_PREFIXES)})."
        )
    match = _DATE_RE.match(text)
    if not match:
        raise SearchError(f"A date must be YYYY, YYYY-MM, YYYY-MM-DD or a date-time, not {raw!r}.")
    parts = match.groupdict()
    try:
        year, month, day = int(parts["y"]), int(parts["m"] or 1), int(parts["d"] or 1)
        # Naive first: the wall-clock range, made aware below in the value's zone or the server's.
        start = datetime(  # noqa: DTZ001
            year, month, day, int(parts["H"] or 0), int(parts["M"] or 0), int(parts["S"] or 0)
        )
        if parts["S"] is not None:
            end = start + timedelta(seconds=1)
        elif parts["M"] is not None:
            end = start + timedelta(minutes=1)
        elif parts["d"] is not None:
            end = start + timedelta(days=1)
        elif parts["m"] is not None:
            end = start.replace(year=year + month // 12, month=month % 12 + 1)
        else:
            end = start.replace(year=year + 1)
    except (ValueError, OverflowError) as exc:
        raise SearchError(f"{raw!r} is not a valid date.") from exc
    if parts["tz"]:
        zone = datetime.fromisoformat("2000-01-01T00:00" + parts["tz"].replace("Z", "+00:00"))
        return prefix, start.replace(tzinfo=zone.tzinfo), end.replace(tzinfo=zone.tzinfo)
    return prefix, timezone.make_aware(start), timezone.make_aware(end)


def _name_q(values: list[str], fields: tuple[str, ...]) -> Q:
    """FHIR string search: each word starts a name part, case- and accent-insensitive."""
    match = Q(pk__in=[])
    for value in values:
        words = [fold_for_search(w) for w in value.split()]
        one = Q()
        for word in words:
            part = Q(pk__in=[])
            for name_field in fields:
                part |= Q(**{f"{name_field}__startswith": word})
            one &= part
        match |= one
    return match


_GENDER_OF = {fhir: ours for ours, fhir in FHIR_GENDER.items()}


def _patient_q(name: str, values: list[str]) -> Q:
    if name == "name":
        return _name_q(values, ("family_name_key", "given_name_key", "preferred_name_key"))
    if name == "family":
        return _name_q(values, ("family_name_key",))
    if name == "given":
        return _name_q(values, ("given_name_key", "preferred_name_key"))
    if name == "identifier":
        mrns = [code for system, code in map(_token, values) if system in (None, "", mrn_system())]
        return Q(mrn__in=mrns)
    if name == "gender":
        genders = [_GENDER_OF[code] for _, code in map(_token, values) if code in _GENDER_OF]
        return Q(sex_at_birth__in=genders)
    raise AssertionError(name)  # pragma: no cover - SEARCH_PARAMS lists only the above


def lenient(request: HttpRequest) -> bool:
    prefer = request.headers.get("Prefer", "")
    return "handling=lenient" in prefer.replace(" ", "").lower()


def parse(request: HttpRequest, resource_type: str) -> ParsedSearch:
    """The request's search parameters for `resource_type`, or SearchError."""
    supported = SEARCH_PARAMS.get(resource_type, {})
    is_lenient = lenient(request)
    ids: set[str] | None = None
    codes: list[tuple[str | None, str]] | None = None
    categories: list[tuple[str | None, str]] | None = None
    statuses: set[str] | None = None
    dates: list[list[tuple[str, Any, Any]]] = []
    patient_refs: list[list[str]] = []
    patient_filter: Q | None = None
    used: list[tuple[str, str]] = []
    for name, values in request.GET.lists():
        if name in CONTROL:
            if name == "_format" and any(v not in JSON_FORMATS for v in values):
                raise SearchError("This server answers JSON only (_format=json).")
            continue
        if name not in supported:
            if is_lenient:
                continue
            known = ", ".join(sorted(supported)) or "none"
            raise SearchError(
                f"Unsupported search parameter {name!r} for {resource_type} "
                f"(supported: {known}; paging: _count, _offset)."
            )
        for value in values:
            used.append((name, value))
            alternatives = _split(value)
            if not alternatives:
                raise SearchError(f"{name} needs a value.")
            if name in ("patient", "subject"):
                refs = []
                for ref in alternatives:
                    if "/" in ref and not ref.startswith("Patient/"):
                        raise SearchError(f"{name} must name a Patient, not {ref!r}.")
                    refs.append(ref.removeprefix("Patient/"))
                patient_refs.append(refs)
            elif name == "_id":
                ids = set(alternatives) if ids is None else ids & set(alternatives)
            elif name == "code":
                tokens = [_token(v) for v in alternatives]
                codes = tokens if codes is None else [t for t in codes if t in tokens]
            elif name == "category":
                tokens = [_token(v) for v in alternatives]
                categories = (
                    tokens if categories is None else [t for t in categories if t in tokens]
                )
            elif name in _STATUS_PARAMS:
                found = {_token(v)[1] for v in alternatives}
                statuses = found if statuses is None else statuses & found
            elif name == "intent":
                # Every order served is an order (MedicationRequest.intent).
                if "order" not in {_token(v)[1] for v in alternatives}:
                    statuses = set()
            elif name in _DATE_PARAMS and resource_type != "Patient":
                dates.append([_date_value(v) for v in alternatives])
            elif name == "birthdate":
                bounds = [_date_value(v) for v in alternatives]
                one = Q(pk__in=[])
                for prefix, low, high in bounds:
                    one |= interval_q("birth_date", True, prefix, low, high)
                patient_filter = one if patient_filter is None else patient_filter & one
            else:
                one = _patient_q(name, alternatives)
                patient_filter = one if patient_filter is None else patient_filter & one
    criteria = Criteria(
        ids=sorted(ids) if ids is not None else None,
        codes=codes,
        categories=categories,
        statuses=sorted(statuses) if statuses is not None else None,
        dates=dates or None,
    )
    return ParsedSearch(criteria, patient_refs, patient_filter, used)


def filter_patients(patients: QuerySet[Patient], parsed: ParsedSearch) -> QuerySet[Patient]:
    return patients.filter(parsed.patient_filter) if parsed.patient_filter is not None else patients
