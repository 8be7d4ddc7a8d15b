"""Writes to the patient chart. Each takes the acting user, checks what that user's role may do,
validates at the edge of the domain (units, plausible ranges, codes) and writes its audit event in
the same transaction. A ValidationError carries per-field messages for forms and the API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import PERM_NAMED, require_role_perm
from infusionclinic.common.mail import email_enqueue
from infusionclinic.common.units import UnknownUnitError, height_to_cm, weight_to_kg

from .icd10 import Icd10Error, icd10_lookup_billable
from .models import (
    Allergy,
    AllergySeverity,
    BodyMeasurement,
    Diagnosis,
    EmergencyAccess,
    MeasurementKind,
    Medication,
    Patient,
    ReferringProvider,
    SexAtBirth,
    fold_for_search,
    name_search_keys,
)
from .selectors import locations_for_user, patients_visible_to

MAX_AGE_YEARS = 130

# Fields a demographics edit may change; anything else is refused, never silently ignored.
DEMOGRAPHIC_FIELDS = (
    "given_name",
    "family_name",
    "preferred_name",
    "birth_date",
    "sex_at_birth",
    "gender_identity",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "emergency_contact_name",
    "emergency_contact_phone",
    "emergency_contact_relationship",
    "escort_name",
    "escort_phone",
)
REQUIRED_FIELDS = ("given_name", "family_name", "birth_date", "sex_at_birth")


class ConflictError(Exception):
    """The record changed since the editor loaded it."""


def _rescreen(*, actor: User, patient: Patient, trigger: str) -> None:
    """Eligibility screening reads diagnoses, weight, height, birth date and sex (issue 4):
    re-run it in the same transaction whenever they change. Imported here, not at the top,
    because the intake app builds on this module."""
    from infusionclinic.intake.services import screening_refresh

    screening_refresh(actor=actor, patient=patient, trigger=trigger)


def _today_at(location: Location) -> date:
    return timezone.localdate(timezone=location.tzinfo)


def _check_demographics(values: dict[str, Any], *, today: date) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name in REQUIRED_FIELDS:
        if name in values and values[name] in (None, ""):
            errors.setdefault(name, []).append("This field is required.")
    for name in ("given_name", "family_name", "preferred_name"):
        if isinstance(values.get(name), str) and len(values[name]) > 100:
            errors.setdefault(name, []).append("At most 100 characters.")
    birth_date = values.get("birth_date")
    if isinstance(birth_date, date):
        if birth_date > today:
            errors.setdefault("birth_date", []).append("Date of birth cannot be in the future.")
        elif today.year - birth_date.year > MAX_AGE_YEARS:
            errors.setdefault("birth_date", []).append(
                f"Date of birth is more than {MAX_AGE_YEARS} years ago; check the year."
            )
    elif birth_date not in (None, ""):
        errors.setdefault("birth_date", []).append("Enter a date as YYYY-MM-DD.")
    if "sex_at_birth" in values and values["sex_at_birth"] not in SexAtBirth.values:
        errors.setdefault("sex_at_birth", []).append(
            "Choose one of: " + ", ".join(SexAtBirth.values) + "."
        )
    email = values.get("email")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.setdefault("email", []).append("Enter a valid email address.")
    country = values.get("country")
    if country is not None and (len(country) != 2 or not country.isalpha()):
        errors.setdefault("country", []).append("Use the two-letter country code (e.g. US).")
    return errors


def _measurement_si(*, kind: MeasurementKind, value: Any, unit: str) -> Decimal:
    """Convert to kg or cm and check the plausible range; raises ValidationError on the field."""
    field = kind.value
    try:
        number = Decimal(str(value))
        if not number.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({field: ["Enter a number."]}) from exc
    try:
        if kind is MeasurementKind.WEIGHT:
            si = weight_to_kg(number, unit)
            low, high, si_unit = (
                settings.PATIENT_WEIGHT_MIN_KG,
                settings.PATIENT_WEIGHT_MAX_KG,
                "kg",
            )
        else:
            si = height_to_cm(number, unit)
            low, high, si_unit = (
                settings.PATIENT_HEIGHT_MIN_CM,
                settings.PATIENT_HEIGHT_MAX_CM,
                "cm",
            )
    except UnknownUnitError as exc:
        raise ValidationError({f"{field}_unit": [str(exc)]}) from exc
    except InvalidOperation as exc:  # too large to round to 0.1 (e.g. 1e308): issue 22 point 5
        low, high, si_unit = (
            (settings.PATIENT_WEIGHT_MIN_KG, settings.PATIENT_WEIGHT_MAX_KG, "kg")
            if kind is MeasurementKind.WEIGHT
            else (settings.PATIENT_HEIGHT_MIN_CM, settings.PATIENT_HEIGHT_MAX_CM, "cm")
        )
        raise ValidationError(
            {field: [f"Outside the plausible range {low:g}-{high:g} {si_unit}."]}
        ) from exc
    if not Decimal(str(low)) <= si <= Decimal(str(high)):
        raise ValidationError(
            {field: [f"{si} {si_unit} is outside the plausible range {low:g}-{high:g} {si_unit}."]}
        )
    return si


def _new_mrn() -> str:
    """Nine digits: eight random and a Luhn check digit, so a mistyped MRN is caught at search
    and the number says nothing about how many patients the clinic has."""
    body = f"{secrets.randbelow(10**8):08d}"
    return body + _luhn_check_digit(body)


def _luhn_check_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def npi_is_valid(npi: str) -> bool:
    """CMS NPI check digit: Luhn over the prefix 80840 and the first nine digits."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    return _luhn_check_digit("80840" + npi[:9]) == npi[9]


# Compared when a stored provider matches the typed NPI (or name and practice): a difference in
# any of them is shown and must be confirmed (issue 21 point 1). The phone is not compared: the
# same number is written in many ways, and the report goes by e-mail.
PROVIDER_COMPARED_FIELDS = ("name", "practice", "email")
PROVIDER_FIELDS = ("name", "practice", "phone", "email")


def _provider_same(field: str, stored: str, typed: str) -> bool:
    if field == "email":
        return stored.strip().casefold() == typed.casefold()
    return fold_for_search(" ".join(stored.split())) == fold_for_search(" ".join(typed.split()))


def provider_differences(provider: ReferringProvider, typed: dict[str, str]) -> tuple[str, ...]:
    """The compared fields where what was typed (when something was) is not what is stored."""
    return tuple(
        field
        for field in PROVIDER_COMPARED_FIELDS
        if typed.get(field) and not _provider_same(field, getattr(provider, field), typed[field])
    )


@dataclass(frozen=True)
class ProviderMatch:
    """A stored provider found for what was typed, how it differs, and how many charts name it
    (updating it changes the provider of all of them)."""

    provider: ReferringProvider
    differences: tuple[str, ...]
    patient_count: int


class ReferringProviderConflict(ValidationError):
    """A stored provider has the typed NPI (or, without an NPI, the typed name and practice) but
    another name, practice or e-mail. Never resolved silently (issue 21 point 1): the caller shows
    `matches` beside `typed` and asks for a choice, passed back as `on_conflict`:
    "use:<id>" (the stored record as it is), "update:<id>" (the stored record, changed to what
    was typed; audited) or "new" (keep both: a separate record)."""

    def __init__(self, *, typed: dict[str, str], matches: list[ProviderMatch]) -> None:
        self.typed = typed
        self.matches = matches
        described = "; ".join(f"{m.provider} ({m.provider.email or 'no e-mail'})" for m in matches)
        key = "NPI " + typed["npi"] if typed["npi"] else "this name and practice"
        super().__init__(
            {
                "referring_provider_npi" if typed["npi"] else "referring_provider_name": [
                    f"A stored provider with {key} differs from what was typed: {described}. "
                    "Choose: use the stored one, update it with what was typed, or keep both."
                ]
            }
        )


def referring_provider_get_or_create(
    *,
    name: str,
    practice: str = "",
    phone: str = "",
    email: str = "",
    npi: str = "",
    actor: User | None = None,
    on_conflict: str = "",
) -> ReferringProvider:
    """The stored provider for what was typed, or a new one. A stored provider is matched by NPI
    (without an NPI: by exact name and practice); if it differs in name, practice or e-mail,
    `ReferringProviderConflict` is raised unless `on_conflict` says what to do (issue 21 point
    1: a referral must never silently name another provider, whose address the progress report
    would be sent to)."""
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["referring_provider_name"] = ["Name the referring provider."]
    if npi and not npi_is_valid(npi):
        errors["referring_provider_npi"] = ["An NPI is 10 digits with a valid check digit."]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["referring_provider_email"] = ["Enter a valid email address."]
    if errors:
        raise ValidationError(errors)
    typed = {
        "name": " ".join(name.split()),
        "practice": " ".join(practice.split()),
        "phone": phone.strip(),
        "email": email.strip(),
        "npi": npi.strip(),
    }
    lookup = (
        {"npi": typed["npi"]}
        if typed["npi"]
        else {
            "name": typed["name"],
            "practice": typed["practice"],
        }
    )
    stored = list(
        ReferringProvider.objects.filter(**lookup)
        .annotate(patient_count=Count("patients"))
        .order_by("pk")
    )
    if not stored:
        return _provider_create(actor=actor, typed=typed)
    matches = [
        ProviderMatch(
            provider=p, differences=provider_differences(p, typed), patient_count=p.patient_count
        )
        for p in stored
    ]
    action, _, chosen_id = on_conflict.partition(":")
    chosen = next((m.provider for m in matches if str(m.provider.pk) == chosen_id), None)
    if action == "use" and chosen is not None:
        return chosen
    if action == "update" and chosen is not None:
        return referring_provider_update(actor=actor, provider=chosen, typed=typed)
    if action == "new" and not chosen_id:
        return _provider_create(actor=actor, typed=typed, same_as=[m.provider for m in matches])
    exact = next((m.provider for m in matches if not m.differences), None)
    if exact is not None:
        return exact
    raise ReferringProviderConflict(typed=typed, matches=matches)


def _require_provider_actor(actor: User | None) -> User:
    if actor is None or not (
        actor.has_role_perm(Perm.REFERRAL_MANAGE) or actor.has_role_perm(Perm.PATIENT_CREATE)
    ):
        raise PermissionDenied("Your role may not change the referring providers on file.")
    return actor


def _provider_create(
    *,
    actor: User | None,
    typed: dict[str, str],
    same_as: list[ReferringProvider] | None = None,
) -> ReferringProvider:
    if same_as:
        # Keeping a second record under an NPI already on file is a decision: only staff who
        # may record referrals make it, and it is audited.
        actor = _require_provider_actor(actor)
    provider = ReferringProvider.objects.create(**typed)
    if actor is not None:
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            obj=provider,
            detail={
                "npi": provider.npi,
                **({"kept_beside": [p.pk for p in same_as]} if same_as else {}),
            },
        )
    return provider


@transaction.atomic
def referring_provider_update(
    *, actor: User | None, provider: ReferringProvider, typed: dict[str, str]
) -> ReferringProvider:
    """Change a stored provider to what was typed (the blank fields stay as they are). Every chart
    that names this provider now names the changed one, so the event keeps the previous values
    and how many charts it affects (issue 21 point 1)."""
    actor = _require_provider_actor(actor)
    current = ReferringProvider.objects.select_for_update().get(pk=provider.pk)
    changed = sorted(
        field
        for field in PROVIDER_FIELDS
        if typed.get(field) and getattr(current, field) != typed[field]
    )
    if not changed:
        return current
    previous = {field: getattr(current, field) for field in changed}
    for field in changed:
        setattr(current, field, typed[field])
    current.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=current,
        detail={
            "fields": changed,
            "previous": previous,
            "npi": current.npi,
            "patients": current.patients.count(),
        },
    )
    return current


@transaction.atomic
def patient_create(
    *,
    actor: User,
    location: Location,
    given_name: str,
    family_name: str,
    birth_date: date,
    sex_at_birth: str,
    weight: Any = None,
    weight_unit: str = "kg",
    height: Any = None,
    height_unit: str = "cm",
    referring_provider: ReferringProvider | None = None,
    **demographics: Any,
) -> Patient:
    require_role_perm(actor, Perm.PATIENT_CREATE, PERM_NAMED)
    unknown = set(demographics) - set(DEMOGRAPHIC_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    if not locations_for_user(user=actor).filter(pk=location.pk).exists():
        raise ValidationError({"location": ["You do not work at that location."]})
    values = {
        "given_name": given_name.strip(),
        "family_name": family_name.strip(),
        "birth_date": birth_date,
        "sex_at_birth": sex_at_birth,
        **{k: v.strip() if isinstance(v, str) else v for k, v in demographics.items()},
    }
    today = _today_at(location)
    errors = _check_demographics(values, today=today)
    measured: list[tuple[MeasurementKind, Any, str, Decimal]] = []
    for kind, value, unit in (
        (MeasurementKind.WEIGHT, weight, weight_unit),
        (MeasurementKind.HEIGHT, height, height_unit),
    ):
        if value in (None, ""):
            continue
        try:
            measured.append((kind, value, unit, _measurement_si(kind=kind, value=value, unit=unit)))
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)

    patient = Patient(
        home_location=location,
        referring_provider=referring_provider,
        **values,
        **name_search_keys(
            given_name=values["given_name"],
            family_name=values["family_name"],
            preferred_name=values.get("preferred_name", ""),
        ),
    )
    for _attempt in range(5):
        patient.mrn = _new_mrn()
        try:
            with transaction.atomic():
                patient.save()
            break
        except IntegrityError:
            if not Patient.objects.filter(mrn=patient.mrn).exists():
                raise
    else:  # pragma: no cover - five collisions in 10^8 numbers
        raise RuntimeError("Could not allocate a unique MRN.")
    if measured:
        require_role_perm(actor, Perm.MEASUREMENT_RECORD, PERM_NAMED)
    # The registration's weight and height in one insert, and one `create` event for the whole
    # registration naming them (issue 13: one audit event per request, recording what was
    # written). No re-screening as measurement_record does: a patient created in this
    # transaction has no intake yet, so screening_refresh would find nothing to screen.
    measurements = BodyMeasurement.objects.bulk_create(
        BodyMeasurement(
            patient=patient,
            kind=kind,
            value_si=si,
            entered_value=Decimal(str(value)),
            entered_unit=unit,
            measured_on=today,
            recorded_by=actor,
        )
        for kind, value, unit, si in measured
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=patient,
        detail=(
            {"measurements": [{"id": m.pk, "kind": m.kind} for m in measurements]}
            if measurements
            else None
        ),
    )
    return patient


@transaction.atomic
def patient_update(
    *, actor: User, patient: Patient, expected_version: int | None, changes: dict[str, Any]
) -> Patient:
    """Change demographics. `expected_version` is the version the editor loaded; if someone saved
    in between, ConflictError is raised and nothing is written (no silent overwrite)."""
    require_role_perm(actor, Perm.PATIENT_EDIT_DEMOGRAPHICS, PERM_NAMED)
    unknown = set(changes) - set(DEMOGRAPHIC_FIELDS) - {"referring_provider"}
    if unknown:
        raise ValidationError({name: ["This field cannot be changed here."] for name in unknown})
    values = {
        k: v.strip()
        if isinstance(v, str)
        else ("" if v is None and k not in REQUIRED_FIELDS else v)
        for k, v in changes.items()
    }
    errors = _check_demographics(values, today=_today_at(patient.home_location))
    if errors:
        raise ValidationError(errors)
    current = Patient.objects.select_for_update().get(pk=patient.pk)
    if expected_version is not None and current.version != expected_version:
        raise ConflictError(
            "Someone else changed this chart after you opened it. Reload to see their change, "
            "then apply yours again."
        )
    changed = sorted(k for k, v in values.items() if getattr(current, k) != v)
    if not changed:
        return current
    for name in changed:
        setattr(current, name, values[name])
    for name, key in name_search_keys(
        given_name=current.given_name,
        family_name=current.family_name,
        preferred_name=current.preferred_name,
    ).items():
        setattr(current, name, key)
    current.version += 1
    current.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=current,
        obj=current,
        detail={"fields": changed},
    )
    if {"birth_date", "sex_at_birth"} & set(changed):
        _rescreen(actor=actor, patient=current, trigger="demographics")
    return current


def _chart_date_check(*, patient: Patient, field: str, value: date | None) -> None:
    """Issue 22 point 5: a chart date (measured, started or noted on) records something that
    happened to this patient, so it lies between their birth and today at their home location.
    Refused with the field's error, never stored."""
    if value is None:
        return
    if value < patient.birth_date:
        raise ValidationError(
            {field: [f"This date is before the date of birth ({patient.birth_date.isoformat()})."]}
        )
    today = _today_at(patient.home_location)
    if value > today:
        raise ValidationError({field: ["This date is in the future; enter when it happened."]})


@transaction.atomic
def measurement_record(
    *,
    actor: User,
    patient: Patient,
    kind: MeasurementKind | str,
    value: Any,
    unit: str,
    measured_on: date | None = None,
) -> BodyMeasurement:
    require_role_perm(actor, Perm.MEASUREMENT_RECORD, PERM_NAMED)
    try:
        kind = MeasurementKind(kind)
    except ValueError as exc:
        raise ValidationError({"kind": ["Choose weight or height."]}) from exc
    today = _today_at(patient.home_location)
    measured_on = measured_on or today
    if measured_on > today:
        raise ValidationError({"measured_on": ["A measurement cannot be dated in the future."]})
    _chart_date_check(patient=patient, field="measured_on", value=measured_on)
    si = _measurement_si(kind=kind, value=value, unit=unit)
    measurement = BodyMeasurement.objects.create(
        patient=patient,
        kind=kind,
        value_si=si,
        entered_value=Decimal(str(value)),
        entered_unit=unit,
        measured_on=measured_on,
        recorded_by=actor,
    )
    audit_record(actor=actor, action=AuditAction.CREATE, patient=patient, obj=measurement)
    _rescreen(actor=actor, patient=patient, trigger=f"measurement_{kind.value}")
    return measurement


@transaction.atomic
def allergy_add(
    *, actor: User, patient: Patient, substance: str, reaction: str = "", severity: str = "unknown"
) -> Allergy:
    require_role_perm(actor, Perm.CHART_EDIT_CLINICAL, PERM_NAMED)
    errors: dict[str, list[str]] = {}
    if not substance.strip():
        errors["substance"] = ["Name the substance (or 'No known drug allergies')."]
    if severity not in AllergySeverity.values:
        errors["severity"] = ["Choose one of: " + ", ".join(AllergySeverity.values) + "."]
    if errors:
        raise ValidationError(errors)
    allergy = Allergy.objects.create(
        patient=patient,
        substance=substance.strip(),
        reaction=reaction.strip(),
        severity=severity,
        recorded_by=actor,
    )
    audit_record(actor=actor, action=AuditAction.CREATE, patient=patient, obj=allergy)
    return allergy


@transaction.atomic
def medication_add(
    *, actor: User, patient: Patient, name: str, dose: str = "", started_on: date | None = None
) -> Medication:
    require_role_perm(actor, Perm.CHART_EDIT_CLINICAL, PERM_NAMED)
    if not name.strip():
        raise ValidationError({"name": ["Name the medication."]})
    _chart_date_check(patient=patient, field="started_on", value=started_on)
    medication = Medication.objects.create(
        patient=patient,
        name=name.strip(),
        dose=dose.strip(),
        started_on=started_on,
        recorded_by=actor,
    )
    audit_record(actor=actor, action=AuditAction.CREATE, patient=patient, obj=medication)
    _rescreen(actor=actor, patient=patient, trigger="medication")
    return medication


@transaction.atomic
def diagnosis_add(
    *,
    actor: User,
    patient: Patient,
    code: str,
    is_primary: bool = False,
    noted_on: date | None = None,
) -> Diagnosis:
    require_role_perm(actor, Perm.DIAGNOSIS_EDIT, PERM_NAMED)
    _chart_date_check(patient=patient, field="noted_on", value=noted_on)
    try:
        entry = icd10_lookup_billable(code)
    except Icd10Error as exc:
        raise ValidationError({"code": [str(exc)]}) from exc
    if Diagnosis.objects.filter(patient=patient, code=entry.code).exists():
        raise ValidationError({"code": [f"{entry.code} is already on this chart."]})
    if is_primary:
        for previous in Diagnosis.objects.filter(patient=patient, is_primary=True):
            previous.is_primary = False
            previous.save(update_fields=["is_primary", "updated_at"])
            audit_record(
                actor=actor,
                action=AuditAction.UPDATE,
                patient=patient,
                obj=previous,
                detail={"fields": ["is_primary"], "replaced_by": entry.code},
            )
    diagnosis = Diagnosis.objects.create(
        patient=patient,
        code=entry.code,
        description=entry.description,
        is_primary=is_primary,
        noted_on=noted_on,
        recorded_by=actor,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=diagnosis,
        detail={"code": entry.code},
    )
    _rescreen(actor=actor, patient=patient, trigger="diagnosis")
    return diagnosis


@transaction.atomic
def emergency_access_open(*, actor: User, mrn: str, reason: str) -> EmergencyAccess:
    """Break the glass: give a prescriber time-limited access to a chart outside their locations.
    Audited (`break_glass`, with the reason) and mailed to the admins of the patient's location."""
    require_role_perm(actor, Perm.EMERGENCY_ACCESS, PERM_NAMED)
    reason = reason.strip()
    minimum = settings.EMERGENCY_ACCESS_MIN_REASON_CHARS
    if len(reason) < minimum:
        raise ValidationError(
            {"reason": [f"Describe the emergency (at least {minimum} characters)."]}
        )
    patient = Patient.objects.select_related("home_location").filter(mrn=mrn.strip()).first()
    if patient is None:
        audit_record(
            actor=actor,
            action=AuditAction.DENIED,
            detail={"emergency_access": True, "requested_mrn": mrn.strip()[:16]},
        )
        raise ValidationError({"mrn": ["No patient has that MRN. Check the number."]})
    if patients_visible_to(user=actor).filter(pk=patient.pk).exists():
        raise ValidationError({"mrn": ["You already have access to this chart."]})
    grant = EmergencyAccess.objects.create(
        user=actor,
        patient=patient,
        reason=reason,
        expires_at=timezone.now() + timedelta(minutes=settings.EMERGENCY_ACCESS_MINUTES),
    )
    audit_record(
        actor=actor,
        action=AuditAction.BREAK_GLASS,
        patient=patient,
        obj=grant,
        detail={"reason": reason, "expires_at": grant.expires_at.isoformat()},
    )
    admins = User.objects.filter(
        role=Role.ADMIN, is_active=True, locations=patient.home_location
    ).values_list("email", flat=True)
    if admins:
        # The MRN only: mail is not the place for a patient's name.
        body = (
            f"{actor.full_name or actor.email} ({actor.email}) used emergency access to the chart "
            f"of patient MRN {patient.mrn} at {patient.home_location.name}.\n\n"
            f"Reason given: {reason}\n\nAccess ends at {grant.expires_at:%Y-%m-%d %H:%M} UTC. "
            "Review it in the audit log (action: Emergency access)."
        )
        transaction.on_commit(
            lambda: email_enqueue(
                subject="Emergency access to a patient chart", body=body, to=sorted(set(admins))
            )
        )
    return grant
