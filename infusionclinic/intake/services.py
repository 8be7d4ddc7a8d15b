"""Writes for referral, intake, screening and consent. Each takes the acting user, checks the
role's capability, validates, and writes its audit event in the same transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import PERM_NAMED, require_role_perm
from infusionclinic.common.context import current_client
from infusionclinic.patients import services as patient_services
from infusionclinic.patients.icd10 import Icd10Error, icd10_lookup_billable
from infusionclinic.patients.models import (
    BodyMeasurement,
    Diagnosis,
    MeasurementKind,
    Medication,
    Patient,
    ReferringProvider,
    SexAtBirth,
    fold_for_search,
)
from infusionclinic.patients.selectors import locations_for_user, patients_visible_to

from . import screening
from .models import (
    ConsentDocument,
    ConsentSignature,
    EligibilityScreening,
    HepaticDisease,
    Intake,
    IntakeAmendment,
    IntakeStatus,
    PrescriberReview,
    PriorTreatment,
    Referral,
    ReferralSource,
    ReferralStatus,
    ReviewDecision,
    ScreeningFinding,
    TreatmentKind,
    TrialOutcome,
)


class IntakeLockedError(patient_services.ConflictError):
    """The intake was submitted; changes go through an amendment with a reason."""


def _today_at(location: Location) -> date:
    return timezone.localdate(timezone=location.tzinfo)


# --- Referral ---------------------------------------------------------------------------------


def _check_codes(codes: list[str] | tuple[str, ...]) -> list[str]:
    checked, errors = [], []
    for code in codes:
        if not code.strip():
            continue
        try:
            checked.append(icd10_lookup_billable(code).code)
        except Icd10Error as exc:
            errors.append(str(exc))
    if errors:
        raise ValidationError({"diagnosis_codes": errors})
    return sorted(set(checked))


@transaction.atomic
def referral_create(
    *,
    actor: User,
    location: Location,
    source: str,
    given_name: str,
    family_name: str,
    birth_date: date,
    sex_at_birth: str,
    source_reference: str = "",
    email: str = "",
    phone: str = "",
    reason: str = "",
    diagnosis_codes: list[str] | tuple[str, ...] = (),
    referring_provider: ReferringProvider | None = None,
) -> Referral:
    """Record a referral from a provider, a self-referral, or a website consultation request
    (source="website", source_reference = the request's reference)."""
    require_role_perm(actor, Perm.REFERRAL_MANAGE, PERM_NAMED)
    errors: dict[str, list[str]] = {}
    if not locations_for_user(user=actor).filter(pk=location.pk).exists():
        errors["location"] = ["You do not work at that location."]
    if source not in ReferralSource.values:
        errors["source"] = ["Choose one of: " + ", ".join(ReferralSource.values) + "."]
    if source == ReferralSource.PROVIDER and referring_provider is None:
        errors["referring_provider"] = ["Name the referring provider."]
    for name, value in (("given_name", given_name), ("family_name", family_name)):
        if not value.strip():
            errors[name] = ["This field is required."]
    if birth_date > _today_at(location):
        errors["birth_date"] = ["Date of birth cannot be in the future."]
    if sex_at_birth not in SexAtBirth.values:
        errors["sex_at_birth"] = ["Choose one of: " + ", ".join(SexAtBirth.values) + "."]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = ["Enter a valid email address."]
    try:
        codes = _check_codes(list(diagnosis_codes))
    except ValidationError as exc:
        errors.update(exc.message_dict)
        codes = []
    if errors:
        raise ValidationError(errors)
    referral = Referral.objects.create(
        location=location,
        source=source,
        source_reference=source_reference.strip()[:200],
        referring_provider=referring_provider,
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        birth_date=birth_date,
        sex_at_birth=sex_at_birth,
        email=email.strip(),
        phone=phone.strip(),
        reason=reason.strip(),
        diagnosis_codes=codes,
        received_by=actor,
    )
    audit_record(actor=actor, action=AuditAction.CREATE, obj=referral, detail={"source": source})
    return referral


def _treatment_values(
    *,
    kind: str,
    name: str,
    dose_mg_per_day: Any,
    weeks: Any,
    outcome: str,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    if kind not in TreatmentKind.values:
        errors["kind"] = ["Choose one of: " + ", ".join(TreatmentKind.values) + "."]
    if not name.strip():
        errors["name"] = ["Name the drug or treatment."]
    if outcome not in TrialOutcome.values:
        errors["outcome"] = ["Choose one of: " + ", ".join(TrialOutcome.values) + "."]
    dose = None
    if dose_mg_per_day not in (None, ""):
        try:
            dose = Decimal(str(dose_mg_per_day))
            if not dose.is_finite() or dose <= 0 or dose >= 100000:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors["dose_mg_per_day"] = ["Enter the daily dose in mg, a positive number."]
    if weeks not in (None, "") and (not isinstance(weeks, int) or not 0 < weeks <= 520):
        errors["weeks"] = ["Enter whole weeks between 1 and 520."]
    if errors:
        raise ValidationError(errors)
    return {"dose_mg_per_day": dose, "weeks": weeks if weeks not in (None, "") else None}


@transaction.atomic
def prior_treatment_add(
    *,
    actor: User,
    kind: str,
    name: str,
    referral: Referral | None = None,
    patient: Patient | None = None,
    dose_mg_per_day: Any = None,
    weeks: int | None = None,
    dose_adequate: bool | None = None,
    current_episode: bool = True,
    outcome: str = TrialOutcome.UNKNOWN,
    notes: str = "",
) -> PriorTreatment:
    """Record a treatment tried before (PROT-2), on a referral and/or a patient's chart."""
    if patient is not None:
        require_role_perm(actor, Perm.PRIOR_TREATMENT_EDIT, PERM_NAMED)
    else:
        require_role_perm(actor, Perm.REFERRAL_MANAGE, PERM_NAMED)
    if referral is None and patient is None:
        raise ValueError("A prior treatment belongs to a referral or a patient.")
    values = _treatment_values(
        kind=kind, name=name, dose_mg_per_day=dose_mg_per_day, weeks=weeks, outcome=outcome
    )
    treatment = PriorTreatment.objects.create(
        referral=referral,
        patient=patient or (referral.patient if referral else None),
        kind=kind,
        name=name.strip(),
        dose_adequate=dose_adequate,
        current_episode=current_episode,
        outcome=outcome,
        notes=notes.strip()[:500],
        recorded_by=actor,
        **values,
    )
    audit_record(actor=actor, action=AuditAction.CREATE, patient=treatment.patient, obj=treatment)
    if treatment.patient is not None:
        screening_refresh(actor=actor, patient=treatment.patient, trigger="prior_treatment")
    return treatment


def referral_duplicates(*, actor: User, referral: Referral) -> list[Patient]:
    """Patients the actor may see with the same (case- and accent-folded) name and birth date."""
    return list(
        patients_visible_to(user=actor).filter(
            birth_date=referral.birth_date,
            given_name_key=fold_for_search(referral.given_name)[:100],
            family_name_key=fold_for_search(referral.family_name)[:100],
        )
    )


@transaction.atomic
def referral_accept(
    *,
    actor: User,
    referral: Referral,
    link_patient: Patient | None = None,
    create_new: bool = False,
) -> Patient:
    """Accept a referral: create the patient (or link the existing one) and open an intake. If a
    patient with the same name and birth date exists, the actor must choose: link it, or state
    that this is a different person (create_new)."""
    require_role_perm(actor, Perm.REFERRAL_MANAGE, PERM_NAMED)
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.status != ReferralStatus.NEW:
        raise ValidationError({"__all__": ["This referral was already handled."]})
    if link_patient is not None:
        if not patients_visible_to(user=actor).filter(pk=link_patient.pk).exists():
            raise ValidationError({"link_patient": ["No such patient at your locations."]})
        patient = link_patient
    else:
        duplicates = referral_duplicates(actor=actor, referral=referral)
        if duplicates and not create_new:
            raise ValidationError(
                {
                    "link_patient": [
                        "A patient with this name and date of birth exists: "
                        + ", ".join(f"{p.legal_name} (MRN {p.mrn})" for p in duplicates)
                        + ". Link the referral to them, or confirm this is a different person."
                    ]
                }
            )
        patient = patient_services.patient_create(
            actor=actor,
            location=referral.location,
            given_name=referral.given_name,
            family_name=referral.family_name,
            birth_date=referral.birth_date,
            sex_at_birth=referral.sex_at_birth,
            email=referral.email,
            phone=referral.phone,
            referring_provider=referral.referring_provider,
        )
    referral.patient = patient
    referral.status = ReferralStatus.ACCEPTED
    referral.accepted_at = timezone.now()
    referral.save(update_fields=["patient", "status", "accepted_at", "updated_at"])
    PriorTreatment.objects.filter(referral=referral, patient__isnull=True).update(patient=patient)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=patient,
        obj=referral,
        detail={"fields": ["status", "patient"], "linked": link_patient is not None},
    )
    intake_open(actor=actor, patient=patient)
    return patient


# --- Intake -----------------------------------------------------------------------------------

BOOL_FIELDS = (
    "suicide_attempts",
    "ketamine_hypersensitivity",
    "aneurysm_avm_or_brain_bleed",
    "uncontrolled_hypertension",
    "unstable_heart_disease",
    "current_psychosis",
    "current_mania",
    "pregnant",
    "takes_theophylline",
    "substance_use_active",
    "substance_use_history",
    "psychosis_history",
    "bipolar_disorder",
    "alcohol_misuse_or_hepatitis",
    "raised_eye_or_brain_pressure",
    "urinary_symptoms",
    "breastfeeding",
    "takes_cns_depressants",
    "takes_stimulants_or_maoi",
)
TEXT_FIELDS = {
    "medical_history": 10000,
    "current_medications": 10000,
    "allergies": 5000,
    "substance_use": 5000,
    "psychiatric_history": 10000,
    "cardiovascular_history": 5000,
    "emergency_contact_name": 200,
    "emergency_contact_phone": 32,
    "escort_name": 200,
    "escort_phone": 32,
}
CHOICE_FIELDS = {"hepatic_disease": HepaticDisease.values}
# Data-entry plausibility only (not clinical thresholds): catches a unit slip or a typo.
BP_RANGES_MMHG = {"baseline_systolic_mmhg": (50, 300), "baseline_diastolic_mmhg": (20, 200)}
NUMBER_FIELDS = ("weight_kg", "height_cm", *BP_RANGES_MMHG)
INTAKE_FIELDS = (*TEXT_FIELDS, *BOOL_FIELDS, *CHOICE_FIELDS, *NUMBER_FIELDS)
# Needed before an intake can be submitted, besides the screening questions (PROT-3, PRE-5).
SUBMIT_REQUIRED = (
    "current_medications",
    "allergies",
    "emergency_contact_name",
    "emergency_contact_phone",
    "escort_name",
    "escort_phone",
    "weight_kg",
    "height_cm",
)


def _clean_number(name: str, value: Any) -> Decimal | int | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
        if not number.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({name: ["Enter a number."]}) from exc
    if name == "weight_kg":
        low, high = settings.PATIENT_WEIGHT_MIN_KG, settings.PATIENT_WEIGHT_MAX_KG
        unit = "kg"
    elif name == "height_cm":
        low, high = settings.PATIENT_HEIGHT_MIN_CM, settings.PATIENT_HEIGHT_MAX_CM
        unit = "cm"
    else:
        low, high = BP_RANGES_MMHG[name]
        unit = "mmHg"
        if number != number.to_integral_value():
            raise ValidationError({name: ["Enter whole mmHg."]})
    if not Decimal(str(low)) <= number <= Decimal(str(high)):
        raise ValidationError({name: [f"{number} {unit} is outside {low:g}-{high:g} {unit}."]})
    if unit == "mmHg":
        return int(number)
    return number.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def intake_clean(values: dict[str, Any]) -> dict[str, Any]:
    """Check types and ranges of intake values (a draft may leave anything empty). Raises a
    ValidationError naming every bad field at once."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name not in INTAKE_FIELDS:
            errors[name] = ["Unknown field."]
        elif name in TEXT_FIELDS:
            if not isinstance(value, str):
                errors[name] = ["Enter text."]
            elif len(value) > TEXT_FIELDS[name]:
                errors[name] = [f"At most {TEXT_FIELDS[name]} characters."]
            else:
                cleaned[name] = value.strip()
        elif name in BOOL_FIELDS:
            if value is not None and not isinstance(value, bool):
                errors[name] = ["Answer yes or no."]
            else:
                cleaned[name] = value
        elif name in CHOICE_FIELDS:
            if value not in ("", None, *CHOICE_FIELDS[name]):
                errors[name] = ["Choose one of: " + ", ".join(CHOICE_FIELDS[name]) + "."]
            else:
                cleaned[name] = value or ""
        else:
            try:
                cleaned[name] = _clean_number(name, value)
            except ValidationError as exc:
                errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return cleaned


def intake_missing_for_submit(intake: Intake) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name in (*screening.required_answers(intake.patient.sex_at_birth), *SUBMIT_REQUIRED):
        if getattr(intake, name) in (None, ""):
            errors[name] = ["Please answer this before submitting."]
    return errors


@transaction.atomic
def intake_open(*, actor: User, patient: Patient) -> Intake:
    intake, created = Intake.objects.get_or_create(
        patient=patient,
        defaults={
            "emergency_contact_name": patient.emergency_contact_name,
            "emergency_contact_phone": patient.emergency_contact_phone,
        },
    )
    if created:
        audit_record(actor=actor, action=AuditAction.CREATE, patient=patient, obj=intake)
    return intake


def _require_intake_edit(actor: User, patient: Patient) -> None:
    require_role_perm(actor, Perm.INTAKE_EDIT, PERM_NAMED)
    # A patient fills in only their own intake (the selectors already scope what they can see).
    if actor.role == Role.PATIENT and getattr(patient, "user_id", None) != actor.pk:
        raise PermissionDenied("You may fill in only your own intake.")


@transaction.atomic
def intake_save(
    *,
    actor: User,
    patient: Patient,
    values: dict[str, Any],
    submit: bool = False,
    at: datetime | None = None,
) -> Intake:
    """Save draft answers (as they are typed); with submit=True, also check that everything
    needed is answered and lock the intake. A submitted intake refuses further saves. `at` is
    the submission time (default now; the demo history records past intakes)."""
    _require_intake_edit(actor, patient)
    if at is not None and (timezone.is_naive(at) or at > timezone.now()):
        raise ValidationError({"at": ["A past, time-zone-aware submission time."]})
    cleaned = intake_clean(values)
    intake_open(actor=actor, patient=patient)
    intake = Intake.objects.select_for_update().select_related("patient").get(patient=patient)
    if intake.is_locked:
        raise IntakeLockedError(
            "The intake was submitted and is locked; staff can amend it with a reason."
        )
    changed = sorted(k for k, v in cleaned.items() if getattr(intake, k) != v)
    for name in changed:
        setattr(intake, name, cleaned[name])
    if submit:
        errors = intake_missing_for_submit(intake)
        if errors:
            raise ValidationError(errors)
        intake.status = IntakeStatus.SUBMITTED
        intake.submitted_at = at or timezone.now()
        intake.submitted_by = actor
    if not changed and not submit:
        return intake
    intake.last_saved_by = actor
    intake.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=patient,
        obj=intake,
        detail={"fields": changed, **({"submitted": True} if submit else {})},
    )
    screening_refresh(actor=actor, patient=patient, trigger="intake_submit" if submit else "intake")
    return intake


@transaction.atomic
def intake_amend(
    *, actor: User, patient: Patient, values: dict[str, Any], reason: str
) -> IntakeAmendment | None:
    """Change a submitted intake. The reason and each field's old and new value are kept."""
    require_role_perm(actor, Perm.INTAKE_AMEND, PERM_NAMED)
    cleaned = intake_clean(values)
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the submitted intake is changed."]})
    intake = Intake.objects.select_for_update().select_related("patient").get(patient=patient)
    if not intake.is_locked:
        raise ValidationError({"__all__": ["The intake is still a draft; edit it directly."]})
    changes = {
        k: [_jsonable(getattr(intake, k)), _jsonable(v)]
        for k, v in cleaned.items()
        if getattr(intake, k) != v
    }
    if not changes:
        return None
    for name in changes:
        setattr(intake, name, cleaned[name])
    missing = intake_missing_for_submit(intake)
    if missing:
        raise ValidationError(missing)
    intake.last_saved_by = actor
    intake.save()
    amendment = IntakeAmendment.objects.create(
        intake=intake, changes=changes, reason=reason.strip(), amended_by=actor
    )
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=patient,
        obj=intake,
        detail={"fields": sorted(changes), "amendment": amendment.pk, "reason": reason.strip()},
    )
    screening_refresh(actor=actor, patient=patient, trigger="intake_amendment")
    return amendment


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


# --- Screening --------------------------------------------------------------------------------


def screening_input(*, patient: Patient) -> screening.ScreeningInput:
    """Gather what the rules read: the intake, the chart (diagnoses, medications, measured
    weight and height, which take precedence over what the patient typed) and accepted
    referrals' diagnoses, and the prior treatments."""
    intake = Intake.objects.filter(patient=patient).first()
    answers = {n: getattr(intake, n) for n in (*BOOL_FIELDS, *CHOICE_FIELDS)} if intake else {}
    codes = set(Diagnosis.objects.filter(patient=patient).values_list("code", flat=True))
    for referral_codes in Referral.objects.filter(
        patient=patient, status=ReferralStatus.ACCEPTED
    ).values_list("diagnosis_codes", flat=True):
        codes.update(referral_codes)
    medications = [m.name for m in Medication.objects.filter(patient=patient)]
    if intake:
        medications.append(intake.current_medications)
    latest = {
        kind: BodyMeasurement.objects.filter(patient=patient, kind=kind)
        .order_by("-measured_on", "-created_at")
        .values_list("value_si", flat=True)
        .first()
        for kind in MeasurementKind
    }
    trials = tuple(
        screening.Trial(
            kind=t.kind,
            name=t.name,
            weeks=t.weeks,
            dose_adequate=t.dose_adequate,
            current_episode=t.current_episode,
            outcome=t.outcome,
        )
        for t in PriorTreatment.objects.filter(patient=patient)
    )
    return screening.ScreeningInput(
        birth_date=patient.birth_date,
        today=_today_at(patient.home_location),
        sex_at_birth=patient.sex_at_birth,
        answers=answers,
        diagnosis_codes=tuple(sorted(codes)),
        medication_text="\n".join(medications),
        weight_kg=latest[MeasurementKind.WEIGHT] or (intake.weight_kg if intake else None),
        height_cm=latest[MeasurementKind.HEIGHT] or (intake.height_cm if intake else None),
        systolic_mmhg=intake.baseline_systolic_mmhg if intake else None,
        diastolic_mmhg=intake.baseline_diastolic_mmhg if intake else None,
        escort_named=bool(intake and intake.escort_name and intake.escort_phone),
        trials=trials,
    )


def _store(
    *, actor: User | None, patient: Patient, result: screening.Result, trigger: str
) -> EligibilityScreening:
    run = EligibilityScreening.objects.create(
        patient=patient,
        trigger=trigger[:100],
        findings_status=result.status,
        resistance_count=result.resistance_count,
        rules_version=result.rules_version,
        ran_by=actor if actor is not None and actor.pk else None,
    )
    ScreeningFinding.objects.bulk_create(
        ScreeningFinding(
            screening=run,
            rule_id=f.rule_id,
            severity=f.severity,
            message=f.message,
            evidence=f.evidence,
        )
        for f in result.findings
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=run,
        detail={
            "trigger": trigger,
            "status": result.status,
            "rules": [f.rule_id for f in result.findings],
        },
    )
    return run


@transaction.atomic
def screening_run(
    *, actor: User, patient: Patient, trigger: str = "manual"
) -> EligibilityScreening:
    """Run every screening rule on the stored data and record the result."""
    require_role_perm(actor, Perm.SCREENING_RUN, PERM_NAMED)
    result = screening.evaluate(screening_input(patient=patient))
    return _store(actor=actor, patient=patient, result=result, trigger=trigger)


def _same(run: EligibilityScreening | None, result: screening.Result) -> bool:
    if run is None:
        return False
    stored = sorted((f.rule_id, f.evidence, f.message) for f in run.findings.all())
    fresh = sorted((f.rule_id, f.evidence, f.message) for f in result.findings)
    return stored == fresh and run.rules_version == result.rules_version


@transaction.atomic
def screening_refresh(
    *, actor: User | None, patient: Patient, trigger: str
) -> EligibilityScreening | None:
    """Re-run screening after data it reads changed (intake, diagnoses, weight and height,
    prior treatments, birth date). Called by the services that change that data, whoever the
    actor; a result identical to the latest run is not stored again. Patients without an intake
    are not screened yet."""
    if not Intake.objects.filter(patient=patient).exists():
        return None
    result = screening.evaluate(screening_input(patient=patient))
    latest = EligibilityScreening.objects.filter(patient=patient).first()
    if _same(latest, result):
        return latest
    return _store(actor=actor, patient=patient, result=result, trigger=trigger)


@transaction.atomic
def screening_review(
    *, actor: User, patient: Patient, rule_id: str, decision: str, reason: str
) -> PrescriberReview:
    """A prescriber's decision on a relative finding of the latest screening, with a reason."""
    require_role_perm(actor, Perm.SCREENING_REVIEW, PERM_NAMED)
    errors: dict[str, list[str]] = {}
    if decision not in ReviewDecision.values:
        errors["decision"] = ["Choose one of: " + ", ".join(ReviewDecision.values) + "."]
    if not reason.strip():
        errors["reason"] = ["Record the reason for the decision."]
    latest = EligibilityScreening.objects.filter(patient=patient).first()
    finding = latest.findings.filter(rule_id=rule_id).first() if latest is not None else None
    rule = screening.rule_table().rules.get(rule_id)
    if finding is None:
        errors["rule_id"] = [f"The latest screening has no finding {rule_id or '(none)'}."]
    elif rule is None or not rule.reviewable:
        errors["rule_id"] = [f"{rule_id} cannot be waived by a review."]
    if errors:
        raise ValidationError(errors)
    review = PrescriberReview.objects.create(
        patient=patient,
        screening=latest,
        rule_id=rule_id,
        evidence=finding.evidence,
        decision=decision,
        reason=reason.strip(),
        reviewed_by=actor,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=review,
        detail={"rule_id": rule_id, "decision": decision, "reason": reason.strip()},
    )
    return review


# --- Consent ----------------------------------------------------------------------------------


@transaction.atomic
def consent_document_publish(
    *, actor: User | None, code: str, title: str, body: str, required: bool = True
) -> ConsentDocument:
    """Publish a new version of a consent document (PROT-C2). Earlier signatures stay on the
    version they signed; patients must sign the new one before their next infusion."""
    if actor is not None:
        require_role_perm(actor, Perm.CONSENT_PUBLISH, PERM_NAMED)
    errors: dict[str, list[str]] = {}
    if not code.strip():
        errors["code"] = ["Give the document a code."]
    if not title.strip():
        errors["title"] = ["Give the document a title."]
    if not body.strip():
        errors["body"] = ["The document has no text."]
    if errors:
        raise ValidationError(errors)
    last = ConsentDocument.objects.filter(code=code).aggregate(v=Max("version"))["v"] or 0
    document = ConsentDocument.objects.create(
        code=code.strip(),
        version=last + 1,
        title=title.strip(),
        body=body.strip(),
        required=required,
        published_by=actor,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=document,
        detail={"code": document.code, "version": document.version},
    )
    return document


def _names_match(typed: str, patient: Patient) -> bool:
    def norm(text: str) -> str:
        return " ".join(fold_for_search(text).split())

    return norm(typed) == norm(patient.legal_name)


@dataclass(frozen=True)
class _PdfResult:
    name: str
    content: bytes


def _pdf_for(signature: ConsentSignature) -> _PdfResult:
    from .pdf import consent_pdf  # fpdf2 is loaded only when a PDF is made

    content = consent_pdf(signature)
    return _PdfResult(
        name=f"consent-{signature.patient.mrn}-{signature.document.code}-v"
        f"{signature.document.version}.pdf",
        content=content,
    )


def _store_pdf(signature: ConsentSignature) -> None:
    pdf = _pdf_for(signature)
    if signature.pdf:
        signature.pdf.delete(save=False)
    signature.pdf.save(pdf.name, ContentFile(pdf.content), save=False)
    signature.pdf_sha256 = hashlib.sha256(pdf.content).hexdigest()


@transaction.atomic
def consent_sign(
    *,
    actor: User,
    patient: Patient,
    document: ConsentDocument,
    typed_name: str,
    agreed: bool,
    at: datetime | None = None,
) -> ConsentSignature:
    """The patient signs exactly this version: typed full legal name, an explicit checkbox, the
    time and the client address are recorded, and a PDF of the signed text is stored. `at` is
    the signing time (default now; the demo history records past consents)."""
    require_role_perm(actor, Perm.CONSENT_SIGN, PERM_NAMED)
    if getattr(patient, "user_id", None) != actor.pk:
        raise PermissionDenied("Only the patient signs their consent.")
    errors: dict[str, list[str]] = {}
    if at is not None and (timezone.is_naive(at) or at > timezone.now()):
        errors["at"] = ["A past, time-zone-aware signing time."]
    if not agreed:
        errors["agreed"] = ["Tick the box to confirm that you have read and agree."]
    if not _names_match(typed_name, patient):
        errors["typed_name"] = [
            f"Type your full legal name exactly as the clinic has it: {patient.legal_name}."
        ]
    latest_version = ConsentDocument.objects.filter(code=document.code).aggregate(v=Max("version"))[
        "v"
    ]
    if document.version != latest_version:
        errors["document"] = ["A newer version of this document exists; sign that one."]
    if ConsentSignature.objects.filter(patient=patient, document=document).exists():
        errors["document"] = ["You have already signed this version."]
    if errors:
        raise ValidationError(errors)
    client = current_client()
    signature = ConsentSignature(
        patient=patient,
        document=document,
        typed_name=typed_name.strip(),
        agreed=True,
        signed_at=at or timezone.now(),
        client_address=client.client_address[:64],
        channel=client.channel[:16],
        signed_by=actor,
    )
    signature.save()
    _store_pdf(signature)
    signature.save(update_fields=["pdf", "pdf_sha256"])
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=signature,
        detail={"document": document.code, "version": document.version},
    )
    return signature


def consent_agree_field(document: ConsentDocument) -> str:
    """The name of a document's own "I have read it" box in the review-and-sign flow."""
    return f"agree_{document.code}"


@transaction.atomic
def consent_sign_all(
    *,
    actor: User,
    patient: Patient,
    documents: list[ConsentDocument],
    typed_name: str,
    agreed_codes: set[str],
) -> list[ConsentSignature]:
    """Issue 21 point 12: one review-and-sign act over every document due. The name is typed
    once and each document has its own "I have read it" box; nothing is signed unless every box
    is ticked and the name matches. Each document still gets its own signed, versioned record
    and PDF through `consent_sign` (one `create` event each), and the act itself is one more
    `create` event naming the versions signed together — all in one transaction."""
    require_role_perm(actor, Perm.CONSENT_SIGN, PERM_NAMED)
    if getattr(patient, "user_id", None) != actor.pk:
        raise PermissionDenied("Only the patient signs their consent.")
    errors: dict[str, list[str]] = {}
    if not documents:
        errors["__all__"] = ["Nothing is waiting for your signature."]
    for document in documents:
        if document.code not in agreed_codes:
            errors[consent_agree_field(document)] = [
                f"Tick the box to confirm that you have read {document.title}."
            ]
    if not _names_match(typed_name, patient):
        errors["typed_name"] = [
            f"Type your full legal name exactly as the clinic has it: {patient.legal_name}."
        ]
    if errors:
        raise ValidationError(errors)
    signatures = [
        consent_sign(
            actor=actor, patient=patient, document=document, typed_name=typed_name, agreed=True
        )
        for document in documents
    ]
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        detail={
            "consent_review_and_sign": [f"{d.code} v{d.version}" for d in documents],
            "signatures": [s.pk for s in signatures],
        },
    )
    return signatures


@transaction.atomic
def consent_countersign(
    *,
    actor: User,
    patient: Patient,
    signature: ConsentSignature,
    at: datetime | None = None,
) -> ConsentSignature:
    require_role_perm(actor, Perm.CONSENT_COUNTERSIGN, PERM_NAMED)
    signature = ConsentSignature.objects.select_for_update().get(pk=signature.pk, patient=patient)
    if signature.countersigned_at is not None:
        raise ValidationError({"signature": ["Already countersigned."]})
    if at is not None and not signature.signed_at <= at <= timezone.now():
        raise ValidationError({"at": ["A countersignature is dated between signing and now."]})
    signature.countersigned_by = actor
    signature.countersigned_at = at or timezone.now()
    _store_pdf(signature)
    signature.save(update_fields=["countersigned_by", "countersigned_at", "pdf", "pdf_sha256"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=patient,
        obj=signature,
        detail={"fields": ["countersigned_by", "countersigned_at"]},
    )
    return signature
