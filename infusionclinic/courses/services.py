"""Writes for protocols and treatment courses. Each checks the actor's capability, validates, and
writes its audit event in the same transaction."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_role_perm
from infusionclinic.patients.models import Patient

from .models import ALLOWED_TRANSITIONS, Phase, PhaseDecision, Protocol, TreatmentCourse
from .proposals import Proposal, ResponseMeasure
from .selectors import protocols_current


@transaction.atomic
def course_start(
    *,
    actor: User,
    patient: Patient,
    indication: str,
    protocol: Protocol | None = None,
    primary_instrument: str = "",
    started_at: datetime | None = None,
    override_reason: str = "",
    at: datetime | None = None,
) -> TreatmentCourse:
    """A new course in induction (PROT-10) on the clinic's current protocol for the indication;
    the course keeps that protocol version whatever later edits do. A patient whose earlier
    course of the indication stopped after induction (a non-responder) starts again only with a
    documented override reason (PROT-24, PROT-42). `at` is when the decision to start is recorded
    (default now; the demo history records past courses)."""
    require_role_perm(actor, Perm.COURSE_MANAGE, "Your role may not start a treatment course.")
    clinic = patient.home_location.clinic
    current = {p.indication: p for p in protocols_current(clinic=clinic)}
    if protocol is None:
        protocol = current.get(indication)
        if protocol is None:
            raise ValidationError({"indication": ["No protocol for this indication."]})
    elif protocol.clinic_id not in (None, clinic.pk):
        raise ValidationError({"protocol": ["Not a protocol of this clinic."]})
    if protocol.indication != indication:
        raise ValidationError({"protocol": ["The protocol is for another indication."]})
    if TreatmentCourse.objects.filter(patient=patient, indication=indication).exclude(
        phase__in=[Phase.COMPLETED, Phase.DISCONTINUED]
    ):
        raise ValidationError({"indication": ["The patient already has an open course for this."]})
    override_reason = (override_reason or "").strip()
    stopped = _stopped_after_induction(patient, indication)
    if stopped is not None and not override_reason:
        raise ValidationError(
            {
                "override_reason": [
                    f"The course started {stopped.course.started_at:%Y-%m-%d} stopped after "
                    "induction (non-responder): a new induction needs a documented reason "
                    "(PROT-24, PROT-42)."
                ]
            }
        )
    now = at or timezone.now()
    started = started_at or now
    course = TreatmentCourse.objects.create(
        patient=patient,
        indication=indication,
        protocol=protocol,
        primary_instrument=primary_instrument or protocol.primary_instrument,
        phase=Phase.INDUCTION,
        started_at=started,
        phase_started_at=started,
        created_by=actor,
    )
    PhaseDecision.objects.create(
        course=course,
        from_phase="",
        to_phase=Phase.INDUCTION,
        reason=f"Course started. Override (PROT-42): {override_reason}"
        if stopped is not None
        else "Course started.",
        proposal_rule_ids=["PROT-10", "PROT-42"] if stopped is not None else ["PROT-10"],
        decided_by=actor,
        decided_at=now,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=course,
        detail={"indication": indication, "protocol": f"{protocol.key} v{protocol.version}"}
        | ({"override_rule": "PROT-42"} if stopped is not None else {}),
    )
    _course_scales_assign(actor=actor, course=course)
    return course


def _course_scales_assign(*, actor: User, course: TreatmentCourse) -> None:
    """PROT-14 / SCALE-4: a started course asks the patient for PHQ-9 (every session, scales.md
    section 9) and for the course's primary scale (PROT-13), so the portal offers them before
    each infusion and the pre-checks find them (issue 18 section 2, the clinic-day seam). A
    primary scale the portal does not offer (PCL-5 until its official wording is in the data
    file, or one the clinic has no definition for) is left to staff: assigning it would make
    every pre-check wait for a paper form nobody was asked to enter."""
    from infusionclinic.outcomes.selectors import instruments_current
    from infusionclinic.outcomes.services import instrument_assign

    portal = {d.code for d in instruments_current() if d.spec.portal}
    for code in dict.fromkeys(["PHQ-9", course.primary_instrument]):
        if code in portal:
            instrument_assign(actor=actor, patient=course.patient, instrument_code=code)


def _stopped_after_induction(patient: Patient, indication: str) -> PhaseDecision | None:
    """PROT-42: the latest course of the indication was discontinued straight from induction
    (it never reached maintenance), i.e. the patient did not respond to a full induction."""
    latest = (
        TreatmentCourse.objects.filter(patient=patient, indication=indication)
        .order_by("-started_at", "-pk")
        .first()
    )
    if latest is None or latest.phase != Phase.DISCONTINUED:
        return None
    return (
        latest.decisions.filter(from_phase=Phase.INDUCTION, to_phase=Phase.DISCONTINUED)
        .select_related("course")
        .first()
    )


def reinduction_blockers(*, course: TreatmentCourse, now: datetime | None = None) -> list[str]:
    """PROT-41: what a re-induction of this course still needs, in plain words: a fresh baseline
    of the primary scale (within the protocol's baseline window, PROT-13), an eligibility
    screening run since the current phase began that finds the patient eligible (ELIG rules),
    and every required consent current on its latest version (PROT-C2)."""
    from infusionclinic.intake.models import ScreeningStatus
    from infusionclinic.intake.selectors import consent_status, screening_latest
    from infusionclinic.outcomes.selectors import score_history

    now = now or timezone.now()
    since = course.phase_started_at
    missing: list[str] = []
    window = course.protocol.baseline_window_days
    fresh = score_history(
        patient=course.patient,
        instrument_code=course.primary_instrument,
        since=now - timedelta(days=window),
    )
    if not [p for p in fresh if p.completed_at <= now]:
        missing.append(
            f"A fresh baseline {course.primary_instrument} in the last {window} days (PROT-41)."
        )
    view = screening_latest(patient=course.patient)
    if view is None or view.screening.ran_at < since:
        missing.append(f"An eligibility screening run since {since:%Y-%m-%d} (PROT-41).")
    elif view.status != ScreeningStatus.ELIGIBLE:
        missing.append(f"The new screening: {view.status_label.lower()} (PROT-41).")
    # The chart keeps one signature per consent version, so re-consent here is the latest
    # version of each required document signed and countersigned (PROT-C2).
    for item in consent_status(patient=course.patient):
        if item.document.required and not item.current:
            missing.append(
                f"Re-consent: {item.document.title} (version {item.document.version}) signed "
                "and countersigned (PROT-41, PROT-C2)."
            )
    return missing


@transaction.atomic
def phase_decide(
    *,
    actor: User,
    course: TreatmentCourse,
    to_phase: str,
    reason: str,
    proposal: Proposal | None = None,
    extension_infusions: int = 0,
    at: datetime | None = None,
) -> PhaseDecision:
    """A prescriber's decision (PROT-23/24, PROT-32, PROT-40), always with a written reason. The
    proposal shown, if any, is recorded beside it with its rule ids and numbers. `at` is when it
    was decided (default now; the demo history records past decisions); it may not be in the
    future nor before the course's current phase began."""
    require_role_perm(actor, Perm.COURSE_MANAGE, "Your role may not decide a course's phase.")
    course = TreatmentCourse.objects.select_for_update().get(pk=course.pk)
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = ["A decision needs a written reason."]
    if to_phase not in Phase.values:
        errors["to_phase"] = ["Unknown phase."]
    elif to_phase not in ALLOWED_TRANSITIONS[course.phase]:
        errors["to_phase"] = [
            f"A course in {course.get_phase_display().lower()} cannot move to {to_phase}."
        ]
    extending = to_phase == course.phase == Phase.INDUCTION
    if extending:
        # PROT-23: extend induction once, by at most the protocol's extra infusions.
        limit = course.protocol.max_extension_infusions
        if course.extension_infusions_used:
            errors["to_phase"] = ["Induction has already been extended once (PROT-23)."]
        elif not 1 <= extension_infusions <= limit:
            errors["extension_infusions"] = [f"Between 1 and {limit} infusions (PROT-23)."]
    # Re-induction (PROT-40): back to induction once the course has been in maintenance (not
    # the resumption of a paused induction) needs a fresh baseline, re-screening and re-consent
    # (PROT-41).
    reinducing = (
        to_phase == Phase.INDUCTION
        and "to_phase" not in errors
        and (
            course.phase == Phase.MAINTENANCE
            or (
                course.phase == Phase.PAUSED
                and course.decisions.filter(to_phase=Phase.MAINTENANCE).exists()
            )
        )
    )
    if at is not None and (at > timezone.now() or at < course.phase_started_at):
        errors["at"] = ["A decision is dated between the phase's start and now."]
    if reinducing and (blockers := reinduction_blockers(course=course, now=at)):
        errors["to_phase"] = ["Re-induction needs: " + " ".join(blockers)]
    if errors:
        raise ValidationError(errors)
    now = at or timezone.now()
    decision = PhaseDecision.objects.create(
        course=course,
        from_phase=course.phase,
        to_phase=to_phase,
        reason=reason,
        proposal_action=proposal.action.value if proposal else "",
        proposal_rule_ids=list(proposal.rule_ids) if proposal else [],
        proposal_numbers=dict(proposal.numbers) if proposal else {},
        extension_infusions=extension_infusions if extending else 0,
        decided_by=actor,
        decided_at=now,
    )
    if extending:
        course.extension_infusions_used = extension_infusions
    else:
        course.phase = to_phase
        course.phase_started_at = now
        if to_phase == Phase.INDUCTION:  # re-induction (PROT-40) starts a fresh induction
            course.extension_infusions_used = 0
    course.save(
        update_fields=["phase", "phase_started_at", "extension_infusions_used", "updated_at"]
    )
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=course.patient,
        obj=course,
        detail={
            "from_phase": decision.from_phase,
            "to_phase": to_phase,
            "proposal": decision.proposal_action,
            "rule_ids": decision.proposal_rule_ids,
        },
    )
    return decision


DEFAULT_PROTOCOLS = Path(__file__).resolve().parent / "data" / "protocols.json"


def default_protocol_rows() -> list[dict[str, Any]]:
    """The clinic-default protocols (protocol.md), as seeded by migration 0002."""
    rows: list[dict[str, Any]] = json.loads(DEFAULT_PROTOCOLS.read_text(encoding="utf-8"))[
        "protocols"
    ]
    return rows


def protocol_defaults_ensure() -> int:
    """Create any missing clinic-default protocol (version 1); returns how many were created.
    The data migration seeds them; this restores them after a test database flush."""
    created = 0
    for row in default_protocol_rows():
        _, made = Protocol.objects.get_or_create(key=row["key"], version=1, defaults=row)
        created += made
    return created


PROTOCOL_EDITABLE = (
    "name",
    "induction_count",
    "induction_interval_days",
    "min_spacing_hours",
    "maintenance_interval_days",
    "primary_instrument",
    "response_measure",
    "response_threshold",
    "partial_threshold",
    "remission_below",
    "baseline_window_days",
    "max_extension_infusions",
    "loss_of_response_count",
    "reinduction_gap_days",
    "default_dose_mg_per_kg",
    "default_dose_mg_per_kg_per_h",
    "default_duration_min",
    "default_concentration_mg_per_ml",
    "checkin_schedule",
)
_POSITIVE_INTS = {
    "induction_count",
    "induction_interval_days",
    "maintenance_interval_days",
    "baseline_window_days",
    "loss_of_response_count",
    "reinduction_gap_days",
    "default_duration_min",
}


def _validate_protocol(values: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for name in _POSITIVE_INTS:
        if not isinstance(values[name], int) or values[name] < 1:
            errors[name] = ["Must be a whole number of at least 1."]
    if values["response_measure"] not in {m.value for m in ResponseMeasure}:
        errors["response_measure"] = ["Unknown measure."]
    for name in ("response_threshold", "default_concentration_mg_per_ml"):
        try:
            if Decimal(values[name]) <= 0:
                errors[name] = ["Must be greater than zero."]
        except (InvalidOperation, TypeError):
            errors[name] = ["Must be a number."]
    if not str(values["primary_instrument"]).strip():
        errors["primary_instrument"] = ["Required (PROT-13)."]
    if problems := checkin_schedule_errors(values.get("checkin_schedule")):
        errors["checkin_schedule"] = problems
    if errors:
        raise ValidationError(errors)


CHECKIN_PHASES = (Phase.INDUCTION, Phase.MAINTENANCE)
CHECKIN_EVERY_DAYS_MAX = 90


def checkin_schedule_errors(schedule: Any) -> list[str]:
    """Issue 18 section 2: {"induction": [{"instrument": "PHQ-9", "every_days": 7}], ...}; only
    the phases that treat, instruments the portal offers, 1 to 90 days apart, each once a
    phase."""
    from infusionclinic.outcomes.selectors import instruments_current

    if schedule in (None, "", {}):
        return []
    if not isinstance(schedule, dict):
        return [
            'An object by phase, e.g. {"induction": [{"instrument": "PHQ-9", "every_days": 7}]}.'
        ]
    # Check-ins are answered at home: only instruments the portal offers.
    known = {d.code for d in instruments_current() if d.spec.portal}
    problems: list[str] = []
    for phase, rows in schedule.items():
        if phase not in CHECKIN_PHASES:
            problems.append(f"Unknown phase {phase!r}: use induction or maintenance.")
            continue
        if not isinstance(rows, list):
            problems.append(f"{phase}: a list of check-ins.")
            continue
        seen: set[str] = set()
        for row in rows:
            code = row.get("instrument") if isinstance(row, dict) else None
            every = row.get("every_days") if isinstance(row, dict) else None
            if code not in known:
                problems.append(f"{phase}: {code!r} is not a questionnaire the portal offers.")
            elif code in seen:
                problems.append(f"{phase}: {code} is listed twice.")
            if isinstance(code, str):
                seen.add(code)
            if not isinstance(every, int) or isinstance(every, bool):
                problems.append(f"{phase}: every_days must be a whole number of days.")
            elif not 1 <= every <= CHECKIN_EVERY_DAYS_MAX:
                problems.append(f"{phase}: every_days between 1 and {CHECKIN_EVERY_DAYS_MAX}.")
    return problems


@transaction.atomic
def protocol_revise(*, actor: User, protocol: Protocol, changes: dict[str, Any]) -> Protocol:
    """A clinic's edit: a new version of the protocol for the actor's clinic. Earlier versions
    stay as they were, so running courses keep theirs."""
    require_role_perm(actor, Perm.COURSE_MANAGE, "Your role may not edit protocols.")
    location = actor.locations.select_related("clinic").first()
    if location is None or protocol.clinic_id not in (None, location.clinic_id):
        raise PermissionDenied("Not a protocol of your clinic.")
    unknown = set(changes) - set(PROTOCOL_EDITABLE)
    if unknown:
        raise ValidationError({name: ["Not editable."] for name in sorted(unknown)})
    values = {name: getattr(protocol, name) for name in PROTOCOL_EDITABLE} | changes
    values["checkin_schedule"] = values.get("checkin_schedule") or {}
    _validate_protocol(values)
    latest = Protocol.objects.filter(key=protocol.key).aggregate(m=Max("version"))["m"] or 0
    new = Protocol.objects.create(
        key=protocol.key,
        version=latest + 1,
        clinic=location.clinic,
        indication=protocol.indication,
        created_by=actor,
        **values,
    )
    changed = sorted(k for k in changes if changes[k] != getattr(protocol, k))
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=new,
        detail={"key": new.key, "version": new.version, "changed": changed},
    )
    return new
