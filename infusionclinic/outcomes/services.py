"""Writes of rating-scale data. Each checks the actor's capability, validates against the
instrument's definition (scoring.py), and writes its audit event in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.mail import email_enqueue
from infusionclinic.patients.models import Patient

from . import scoring
from .models import (
    Administration,
    Assessment,
    AssessmentAmendment,
    AssessmentSource,
    AssessmentStatus,
    InstrumentAssignment,
    InstrumentDefinition,
    SafetyAlert,
)

REASON_MAX = 2000
# A device clock a few minutes fast must not refuse an honest completion time.
FUTURE_TOLERANCE = timedelta(minutes=5)


def instrument_current(*, code: str) -> InstrumentDefinition:
    """The newest version of an instrument; ValidationError naming "instrument" if unknown."""
    definition = InstrumentDefinition.objects.filter(code=code).order_by("-version").first()
    if definition is None:
        known = ", ".join(sorted(set(InstrumentDefinition.objects.values_list("code", flat=True))))
        raise ValidationError({"instrument": [f"Unknown instrument {code!r}. Known: {known}."]})
    return definition


def _is_own_patient(actor: User, patient: Patient) -> bool:
    return actor.role == Role.PATIENT and patient.user_id == actor.pk


def _check_may_answer(actor: User, patient: Patient) -> Administration:
    """Staff enter answers on a patient's behalf; a patient answers only their own."""
    if actor.has_role_perm(Perm.ASSESSMENT_ENTER):
        return Administration.CLINICIAN
    if actor.has_role_perm(Perm.ASSESSMENT_SELF_REPORT) and _is_own_patient(actor, patient):
        return Administration.SELF
    raise PermissionDenied("Your role may not enter answers for this patient.")


def instrument_assign(
    *, actor: User, patient: Patient, instrument_code: str
) -> InstrumentAssignment:
    if not actor.has_role_perm(Perm.INSTRUMENT_ASSIGN):
        raise PermissionDenied("Your role may not assign questionnaires.")
    definition = instrument_current(code=instrument_code)
    with transaction.atomic():
        assignment, created = InstrumentAssignment.objects.get_or_create(
            patient=patient,
            instrument_code=definition.code,
            defaults={"assigned_by": actor},
        )
        if not created and assignment.active:
            return assignment
        if not created:
            assignment.active = True
            assignment.assigned_by = actor
            assignment.save(update_fields=["active", "assigned_by", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.CREATE if created else AuditAction.UPDATE,
            patient=patient,
            obj=assignment,
            detail={"instrument": definition.code, "active": True},
        )
    return assignment


def instrument_unassign(*, actor: User, assignment: InstrumentAssignment) -> None:
    if not actor.has_role_perm(Perm.INSTRUMENT_ASSIGN):
        raise PermissionDenied("Your role may not assign questionnaires.")
    with transaction.atomic():
        assignment.active = False
        assignment.save(update_fields=["active", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient=assignment.patient,
            obj=assignment,
            detail={"instrument": assignment.instrument_code, "active": False},
        )


def _draft_for(patient: Patient, definition: InstrumentDefinition) -> Assessment | None:
    return (
        Assessment.objects.select_for_update()
        .filter(patient=patient, instrument=definition, status=AssessmentStatus.DRAFT)
        .order_by("-updated_at", "-pk")
        .first()
    )


@transaction.atomic
def assessment_save_draft(
    *,
    actor: User,
    patient: Patient,
    instrument_code: str,
    answers: Sequence[int | None],
) -> Assessment:
    """Keep partial answers so the questionnaire can be resumed (one draft per patient and
    instrument: saving again updates it)."""
    administration = _check_may_answer(actor, patient)
    definition = instrument_current(code=instrument_code)
    errors = scoring.answer_errors(definition.spec, answers, complete=False)
    if errors:
        raise ValidationError(errors)
    draft = _draft_for(patient, definition)
    created = draft is None
    if draft is None:
        draft = Assessment(patient=patient, instrument=definition)
    draft.answers = list(answers)
    draft.administration = administration
    draft.entered_by = actor
    draft.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if created else AuditAction.UPDATE,
        patient=patient,
        obj=draft,
        detail={
            "instrument": definition.code,
            "status": "draft",
            "answered": sum(a is not None for a in answers),
        },
    )
    return draft


@transaction.atomic
def assessment_submit(
    *,
    actor: User,
    patient: Patient,
    instrument_code: str,
    answers: Sequence[int | None],
    completed_at: datetime | None = None,
    source: str = AssessmentSource.CLINIC,
) -> Assessment:
    """Score a complete response and lock it. Completes the patient's draft of this instrument if
    there is one. Raises the instrument's safety alerts at once (SCALE-4). `source` says where it
    was collected (a home check-in, issue 18 section 2: courses.checkins)."""
    administration = _check_may_answer(actor, patient)
    definition = instrument_current(code=instrument_code)
    spec = definition.spec
    errors = scoring.answer_errors(spec, answers, complete=True)
    now = timezone.now()
    if completed_at is not None:
        if timezone.is_naive(completed_at):
            errors["completed_at"] = ["Give a time zone (e.g. 2025-03-04T09:30:00-05:00)."]
        elif completed_at > now + FUTURE_TOLERANCE:
            errors["completed_at"] = ["The completion time is in the future."]
    if errors:
        raise ValidationError(errors)
    result = scoring.score(spec, list(answers))  # type: ignore[arg-type]

    assessment = _draft_for(patient, definition) or Assessment(
        patient=patient, instrument=definition
    )
    assessment.answers = list(answers)
    assessment.status = AssessmentStatus.SUBMITTED
    assessment.total = result.total
    assessment.severity = result.band.label if result.band else ""
    assessment.completed_at = completed_at or now
    assessment.submitted_at = now
    assessment.administration = administration
    assessment.entered_by = actor
    assessment.source = source
    assessment.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=assessment,
        detail={
            "instrument": definition.code,
            "version": definition.version,
            "status": "submitted",
            "source": source,
            "total": result.total,
            "severity": assessment.severity,
        },
    )
    _raise_alerts(actor=actor, assessment=assessment, answers=list(answers))
    return assessment


def _raise_alerts(
    *, actor: User, assessment: Assessment, answers: list[int], previous: list[int] | None = None
) -> list[SafetyAlert]:
    """SCALE-4. On amendment, only a rule that was not already triggered raises a new alert."""
    spec = assessment.instrument.spec
    already = {r.rule_id for r in scoring.triggered_alerts(spec, previous)} if previous else set()
    raised = []
    for rule in scoring.triggered_alerts(spec, answers):
        if rule.rule_id in already:
            continue
        alert = SafetyAlert.objects.create(
            patient=assessment.patient,
            assessment=assessment,
            rule_id=rule.rule_id,
            level=rule.level,
            message=rule.message,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient=assessment.patient,
            obj=alert,
            detail={"rule_id": rule.rule_id, "item": rule.item, "assessment": assessment.pk},
        )
        raised.append(alert)
    if raised:
        # Queued in this transaction (django-tasks database backend): no alert without its mail,
        # no mail for an alert that was rolled back.
        _email_alerts(raised)
    return raised


def safety_alert_recipients(*, patient: Patient, nurses: bool = False) -> list[str]:
    """No on-duty roster exists yet: every active prescriber of the patient's home location, plus
    the on-call address OUTCOMES_SAFETY_ALERT_EMAIL when set. `nurses`: the location's nurses
    too (a home check-in, issue 18 section 2: no clinician is with the patient)."""
    roles = [Role.PRESCRIBER, Role.NURSE] if nurses else [Role.PRESCRIBER]
    emails = set(
        User.objects.filter(
            role__in=roles, is_active=True, locations=patient.home_location
        ).values_list("email", flat=True)
    )
    if settings.OUTCOMES_SAFETY_ALERT_EMAIL:
        emails.add(settings.OUTCOMES_SAFETY_ALERT_EMAIL)
    return sorted(emails)


def _email_alerts(alerts: list[SafetyAlert]) -> None:
    for alert in alerts:
        to = safety_alert_recipients(
            patient=alert.patient,
            nurses=alert.assessment.source == AssessmentSource.HOME_CHECKIN,
        )
        if not to:
            continue
        # Minimum necessary: no name or answers in mail; the link needs a log-in.
        path = reverse("outcomes:alerts")
        email_enqueue(
            subject=f"Safety alert {alert.rule_id} at {alert.patient.home_location.name}",
            body=(
                f"A patient's questionnaire raised safety alert #{alert.pk} ({alert.rule_id}).\n"
                f"{alert.message}\n\n"
                f"Open Infusion Clinic, Safety alerts ({path}), to review and acknowledge it "
                "with the action taken."
            ),
            to=to,
        )


@transaction.atomic
def assessment_amend(
    *, actor: User, assessment: Assessment, answers: Sequence[int | None], reason: str
) -> Assessment:
    """Correct a submitted (locked) response: the reason and the replaced answers are kept."""
    if not actor.has_role_perm(Perm.ASSESSMENT_ENTER):
        raise PermissionDenied("Your role may not amend questionnaires.")
    assessment = Assessment.objects.select_for_update().get(pk=assessment.pk)
    errors: dict[str, list[str]] = {}
    if not assessment.is_locked:
        errors["__all__"] = ["Only a submitted response is amended; a draft is simply edited."]
    reason = reason.strip()
    if not reason:
        errors["reason"] = ["Say why the answers are being changed."]
    elif len(reason) > REASON_MAX:
        errors["reason"] = [f"At most {REASON_MAX} characters."]
    spec = assessment.instrument.spec
    errors.update(scoring.answer_errors(spec, answers, complete=True))
    if not errors and list(answers) == assessment.answers:
        errors["answers"] = ["No answer was changed."]
    if errors:
        raise ValidationError(errors)
    result = scoring.score(spec, list(answers))  # type: ignore[arg-type]
    previous = list(assessment.answers)
    amendment = AssessmentAmendment.objects.create(
        assessment=assessment,
        amended_by=actor,
        reason=reason,
        previous_answers=previous,
        previous_total=assessment.total,
        new_answers=list(answers),
        new_total=result.total,
    )
    assessment.answers = list(answers)
    assessment.total = result.total
    assessment.severity = result.band.label if result.band else ""
    assessment.save(update_fields=["answers", "total", "severity", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=assessment.patient,
        obj=assessment,
        detail={
            "amendment": amendment.pk,
            "reason": reason,
            "previous_answers": previous,
            "answers": list(answers),
            "previous_total": amendment.previous_total,
            "total": result.total,
        },
    )
    _raise_alerts(actor=actor, assessment=assessment, answers=list(answers), previous=previous)  # type: ignore[arg-type]
    return assessment


@transaction.atomic
def safety_alert_acknowledge(*, actor: User, alert: SafetyAlert, action_taken: str) -> SafetyAlert:
    """SCALE-4: the alert stays open until a clinician (prescriber or nurse) documents what was
    done."""
    if not actor.has_role_perm(Perm.SAFETY_ALERT_ACK):
        raise PermissionDenied("Only a clinician may acknowledge a safety alert.")
    alert = SafetyAlert.objects.select_for_update().get(pk=alert.pk)
    action_taken = action_taken.strip()
    if not alert.is_open:
        raise ValidationError({"__all__": ["This alert was already acknowledged."]})
    if not action_taken:
        raise ValidationError(
            {"action_taken": ["Document the action taken (e.g. the risk assessment done)."]}
        )
    if len(action_taken) > REASON_MAX:
        raise ValidationError({"action_taken": [f"At most {REASON_MAX} characters."]})
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = actor
    alert.action_taken = action_taken
    alert.save(update_fields=["acknowledged_at", "acknowledged_by", "action_taken"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=alert.patient,
        obj=alert,
        detail={"rule_id": alert.rule_id, "acknowledged": True, "action_taken": action_taken},
    )
    return alert
