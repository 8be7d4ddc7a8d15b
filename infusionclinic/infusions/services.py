"""Writes of an infusion session, each checking the actor's capability, the state machine
(scheduled → checked_in → pre_checks → infusing ⇄ paused → recovering → discharged; cancelled,
no_show) and the rules of monitoring.md / protocol.md, with its audit event in the same
transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.accounts.services import user_reauthenticate
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record, audit_record_batch
from infusionclinic.common.access import require_at_location, require_role_perm
from infusionclinic.dosing.models import DosingOrder
from infusionclinic.intake.selectors import patient_may_be_booked
from infusionclinic.patients.models import Patient
from infusionclinic.scheduling.models import Appointment

from . import controlled_link, dose, facility, prn, rules, selectors
from .conf import conf
from .models import (
    ControlledException,
    DischargeScore,
    InfusionSession,
    NoteAmendment,
    PreCheck,
    PregnancyTest,
    PumpAction,
    PumpEvent,
    SessionNote,
    SessionState,
    SideEffect,
    Symptom,
    VerbalOrder,
    VerbalOrderKind,
    VitalAlert,
    VitalPhase,
    VitalSign,
)

S = SessionState
FUTURE_SKEW = timedelta(seconds=60)  # a monitor's clock may run slightly ahead


def _at(at: datetime | None) -> datetime:
    """A past time for a record entered late (the demo's history); default now, never ahead."""
    now = timezone.now()
    if at is None:
        return now
    if timezone.is_naive(at) or at > now + FUTURE_SKEW:
        raise ValidationError({"at": ["Give a time with its UTC offset, not in the future."]})
    return at


def _require_run(actor: User) -> None:
    require_role_perm(actor, Perm.SESSION_RUN, "Your role does not run infusion sessions.")


def _lock(session: InfusionSession) -> InfusionSession:
    return (
        InfusionSession.objects.select_for_update()
        .select_related("order", "patient")
        .get(pk=session.pk)
    )


def _require_state(session: InfusionSession, *states: str) -> None:
    if session.state not in states:
        raise ValidationError(
            {"state": [f"Not possible while the session is {session.get_state_display()}."]}
        )


def _audit(actor: User, session: InfusionSession, obj: Any, **detail: Any) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if obj is not session else AuditAction.UPDATE,
        patient=session.patient,
        obj=obj,
        detail={"session": session.pk, **detail},
    )


@transaction.atomic
def session_create(
    *,
    actor: User,
    patient: Patient,
    order: DosingOrder,
    location: Location,
    scheduled_at: datetime,
    appointment: Appointment | None = None,
) -> InfusionSession:
    _require_run(actor)
    require_at_location(actor, location, "Not one of your locations.")
    if order.patient_id != patient.pk or not order.is_signed:
        raise ValidationError({"order": ["A signed order for this patient is required."]})
    if appointment is not None and appointment.patient_id != patient.pk:
        raise ValidationError({"appointment": ["Not this patient's appointment."]})
    session = InfusionSession.objects.create(
        patient=patient,
        order=order,
        location=location,
        scheduled_at=scheduled_at,
        appointment=appointment,
        escort_name=appointment.escort_name if appointment else "",
        escort_phone=appointment.escort_phone if appointment else "",
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=session,
        detail={"event": "session_create", "order": order.pk},
    )
    return session


@transaction.atomic
def session_check_in(
    *,
    actor: User,
    session: InfusionSession,
    identity_confirmed: bool,
    escort_name: str,
    escort_phone: str,
    at: datetime | None = None,
) -> InfusionSession:
    """PRE-5: no check-in without a named escort and a phone number (hard stop)."""
    _require_run(actor)
    session = _lock(session)
    _require_state(session, S.SCHEDULED)
    errors: dict[str, list[str]] = {}
    if not identity_confirmed:
        errors["identity_confirmed"] = ["Confirm the patient's identity (name and birth date)."]
    if not escort_name.strip():
        errors["escort_name"] = ["PRE-5: no check-in without a named escort."]
    if len([c for c in escort_phone if c.isdigit()]) < 7:
        errors["escort_phone"] = ["PRE-5: the escort's phone number is required."]
    if errors:
        raise ValidationError(errors)
    session.state = S.CHECKED_IN
    session.checked_in_at = _at(at)
    session.identity_confirmed = True
    session.escort_name = escort_name.strip()
    session.escort_phone = escort_phone.strip()
    session.save()
    _audit(actor, session, session, event="check_in", escort=session.escort_name)
    return session


@transaction.atomic
def session_precheck_record(
    *,
    actor: User,
    session: InfusionSession,
    fasting_confirmed: bool,
    pregnancy_test: str,
    weight_kg: Any,
    at: datetime | None = None,
) -> PreCheck:
    """The pre-infusion checklist. Hard stops: consent not current or intake not clearing the
    patient (PROT-C1/C2 via intake), the visit's questionnaires not submitted in outcomes
    (PROT-14, scales.md §9) or an open PHQ-9 item 9 alert (SCALE-4), fasting not confirmed
    (PRE-4), a positive pregnancy test (ELIG-A7, PRE-2), no pre-infusion vital signs (MON-T1).
    Today's weight goes to the patient's chart (a BodyMeasurement, audited) so dosing sees it."""
    from infusionclinic.patients.services import measurement_record

    _require_run(actor)
    session = _lock(session)
    _require_state(session, S.CHECKED_IN)
    errors: dict[str, list[str]] = {}
    if not pregnancy_test and not conf("pregnancy_test_required"):
        pregnancy_test = PregnancyTest.NOT_APPLICABLE  # PRE-2 switched off by the clinic
    may, reasons = patient_may_be_booked(patient=session.patient)
    if not may:
        errors["consent_current"] = [str(r) for r in reasons]
    questionnaires = selectors.questionnaires_for_visit(session)
    if questionnaires.missing:
        errors["questionnaires"] = [
            "PROT-14: not yet submitted for this visit: " + ", ".join(questionnaires.missing) + "."
        ]
    if questionnaires.open_safety_alerts:
        errors.setdefault("questionnaires", []).append(
            "SCALE-4: a PHQ-9 item 9 safety alert is open; a clinician documents the risk "
            "assessment (acknowledges the alert) before the infusion."
        )
    if not fasting_confirmed:
        errors["fasting_confirmed"] = ["PRE-4: fasting (no solids 6 h, clear liquids 2 h)."]
    if pregnancy_test not in PregnancyTest.values:
        errors["pregnancy_test"] = ["PRE-2: record the pregnancy test or 'not applicable'."]
    elif pregnancy_test == PregnancyTest.POSITIVE:
        errors["pregnancy_test"] = ["ELIG-A7: a positive pregnancy test stops the session."]
    try:
        weight = Decimal(str(weight_kg))
    except (InvalidOperation, ValueError):
        weight = Decimal(-1)
    if not Decimal(20) <= weight <= Decimal(350):
        errors["weight_kg"] = ["Today's weight in kg (20-350)."]
    if selectors.baseline_reading(session) is None:
        errors["vitals"] = ["MON-T1: record a full set of pre-infusion vital signs first."]
    if errors:
        raise ValidationError(errors)
    recorded_at = _at(at)
    measurement = measurement_record(
        actor=actor,
        patient=session.patient,
        kind="weight",
        value=weight,
        unit="kg",
        measured_on=None if at is None else recorded_at.astimezone(session.location.tzinfo).date(),
    )
    precheck = PreCheck.objects.create(
        session=session,
        consent_current=True,
        consent_reasons=[],
        questionnaires_done=True,
        questionnaires=[
            {"code": code, "assessment_id": pk} for code, pk in questionnaires.done.items()
        ],
        fasting_confirmed=True,
        pregnancy_test=pregnancy_test,
        weight_kg=weight,
        weight_measurement=measurement,
        recorded_by=actor,
        recorded_at=recorded_at,
    )
    session.state = S.PRE_CHECKS
    session.save(update_fields=["state"])
    _audit(actor, session, precheck, event="pre_checks", weight_kg=str(weight))
    return precheck


def _int(value: Any, field: str, low: int, high: int, errors: dict[str, list[str]]) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[field] = ["A whole number is required."]
        return None
    if isinstance(value, float) and value != number:
        errors[field] = ["A whole number is required."]
        return None
    if not low <= number <= high:
        errors[field] = [f"Must be between {low} and {high}."]
        return None
    return number


_PHASE_OF_STATE = {
    S.CHECKED_IN: VitalPhase.PRE,
    S.PRE_CHECKS: VitalPhase.PRE,
    S.INFUSING: VitalPhase.INFUSION,
    S.PAUSED: VitalPhase.INFUSION,
    S.RECOVERING: VitalPhase.RECOVERY,
}


def _vital_phase(session: InfusionSession) -> str:
    phase = _PHASE_OF_STATE.get(session.state)
    if phase is None:
        raise ValidationError({"state": ["Vital signs are recorded from check-in to discharge."]})
    return phase


def _vital_build(
    *,
    actor: User,
    session: InfusionSession,
    phase: str,
    errors: dict[str, list[str]],
    taken_at: datetime,
    systolic_mmhg: Any,
    diastolic_mmhg: Any,
    heart_rate_bpm: Any,
    spo2_pct: Any,
    respiratory_rate: Any,
    sedation: Any = None,
    dissociation: Any = None,
) -> VitalSign:
    """A reading checked at the domain's edge (an unsaved row); problems go into `errors`."""
    sbp = _int(systolic_mmhg, "systolic_mmhg", 40, 300, errors)
    dbp = _int(diastolic_mmhg, "diastolic_mmhg", 20, 250, errors)
    hr = _int(heart_rate_bpm, "heart_rate_bpm", 20, 300, errors)
    # SpO2 above 100 % is impossible.
    spo2 = _int(spo2_pct, "spo2_pct", 50, 100, errors)
    rr = _int(respiratory_rate, "respiratory_rate", 0, 80, errors)
    sed = None if sedation in (None, "") else _int(sedation, "sedation", 0, 5, errors)  # MON-3
    dis = (
        None if dissociation in (None, "") else _int(dissociation, "dissociation", 0, 3, errors)
    )  # MON-CADSS default clinician rating
    if sbp is not None and dbp is not None and sbp <= dbp:
        errors["systolic_mmhg"] = ["Systolic must be above diastolic."]
    if timezone.is_naive(taken_at):
        errors["taken_at"] = ["Give the time with its UTC offset."]
    elif taken_at > timezone.now() + FUTURE_SKEW:
        errors["taken_at"] = ["A reading cannot be in the future."]
    elif session.checked_in_at and taken_at < session.checked_in_at - FUTURE_SKEW:
        # Issue 21 point 12: a late entry keeps the time it was taken, within the session.
        errors["taken_at"] = ["A reading cannot be taken before this session's check-in."]
    return VitalSign(
        session=session,
        phase=phase,
        taken_at=taken_at,
        systolic_mmhg=sbp,
        diastolic_mmhg=dbp,
        heart_rate_bpm=hr,
        spo2_pct=spo2,
        respiratory_rate=rr,
        sedation=sed,
        dissociation=dis,
        recorded_by=actor,
    )


class _PhaseAt:
    """Issue 21 point 12: the phase of a reading is the phase at the time it was taken. A reading
    entered late (taken before the pump's start, or before its stop) belongs to the phase it was
    taken in, so its alerts and MON-BP-5's baseline follow the time taken. The pump events are
    read only for a reading older than the clock skew (a monitor's live posts cost nothing)."""

    def __init__(self, session: InfusionSession, phase: str) -> None:
        self.session, self.phase = session, phase
        self._events: tuple[datetime | None, datetime | None] | None = None

    def __call__(self, taken_at: Any) -> str:
        if (
            self.phase == VitalPhase.PRE
            or not isinstance(taken_at, datetime)
            or timezone.is_naive(taken_at)
            or taken_at >= timezone.now() - FUTURE_SKEW
        ):
            return self.phase
        if self._events is None:
            events = list(
                PumpEvent.objects.filter(
                    session_id=self.session.pk, action__in=[PumpAction.START, PumpAction.STOP]
                )
                .order_by("at", "pk")
                .values_list("action", "at")
            )
            starts = [at for action, at in events if action == PumpAction.START]
            stops = [at for action, at in events if action == PumpAction.STOP]
            self._events = (starts[0] if starts else None, stops[-1] if stops else None)
        started, stopped = self._events
        if started is not None and taken_at < started:
            return VitalPhase.PRE
        if self.phase == VitalPhase.RECOVERY and stopped is not None and taken_at < stopped:
            return VitalPhase.INFUSION
        return self.phase


def _signs_to_raise(session: InfusionSession) -> list[str]:
    """MON-BP-4 / MON-X-1: a sign still present raises its rule again with a new BP, unless its
    alert is still waiting for acknowledgement (one open alert per rule)."""
    signs = selectors.active_signs(session)
    if not signs:
        return []
    waiting = set(
        session.alerts.filter(acknowledged_at__isnull=True).values_list("rule_id", flat=True)
    )
    return [s for s in signs if rules.warning_signs()[s].rule_id not in waiting]


def _vital_findings(
    vital: VitalSign, baseline: VitalSign | None, signs: list[str]
) -> list[rules.Finding]:
    return rules.reading_findings(
        _reading(vital),
        baseline=_reading(baseline) if baseline else None,
        pre_infusion=vital.phase == VitalPhase.PRE,
        active_signs=signs,
    )


def _lock_for_reading(session: InfusionSession) -> InfusionSession:
    """The row lock `_lock` takes, reading back only what a reading depends on (state and
    check-in time) onto the caller's object, whose patient is already loaded: a monitor posts
    often, and re-reading the session with its order and patient was a third of its cost."""
    current = (
        InfusionSession.objects.select_for_update()
        .filter(pk=session.pk)
        .values("state", "checked_in_at")
        .get()
    )
    session.state, session.checked_in_at = current["state"], current["checked_in_at"]
    return session


def _alerts_known(vital: VitalSign, alerts: list[VitalAlert]) -> None:
    """Give the reading its alerts as if prefetched: the answer lists them without a query."""
    known = vital.alerts.all()
    known._result_cache = alerts
    known._prefetch_done = True
    vital._prefetched_objects_cache = {"alerts": known}


@transaction.atomic
def vital_record(
    *,
    actor: User,
    session: InfusionSession,
    taken_at: datetime | None = None,
    systolic_mmhg: Any,
    diastolic_mmhg: Any,
    heart_rate_bpm: Any,
    spo2_pct: Any,
    respiratory_rate: Any,
    sedation: Any = None,
    dissociation: Any = None,
) -> VitalSign:
    """Store a reading and raise an alert for every threshold it crosses (monitoring.md §3).
    Issue 21 point 12: `taken_at` is when the reading was taken (default now): not in the
    future, not before the check-in; intervals, alerts and the phase follow it."""
    _require_run(actor)
    session = _lock_for_reading(session)
    taken_at = taken_at or timezone.now()
    phase = _PhaseAt(session, _vital_phase(session))(taken_at)
    errors: dict[str, list[str]] = {}
    vital = _vital_build(
        actor=actor,
        session=session,
        phase=phase,
        errors=errors,
        taken_at=taken_at,
        systolic_mmhg=systolic_mmhg,
        diastolic_mmhg=diastolic_mmhg,
        heart_rate_bpm=heart_rate_bpm,
        spo2_pct=spo2_pct,
        respiratory_rate=respiratory_rate,
        sedation=sedation,
        dissociation=dissociation,
    )
    if errors:
        raise ValidationError(errors)
    vital.save()
    baseline = selectors.baseline_reading(session) if phase != VitalPhase.PRE else None
    findings = _vital_findings(vital, baseline, _signs_to_raise(session))
    alerts = [_alert_create(session, f, vital=vital) for f in findings]
    _alerts_known(vital, alerts)
    # The patient by id: the monitor's route does not load the patient row (issue 20 §3).
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient_id=session.patient_id,
        obj=vital,
        detail={"session": session.pk, "event": "vitals", "alerts": [f.rule_id for f in findings]},
    )
    return vital


def _alert(session: InfusionSession, finding: rules.Finding, **source: Any) -> VitalAlert:
    return VitalAlert(
        session=session,
        rule_id=finding.rule_id,
        level=finding.level,
        message=finding.message[:300],
        action=finding.action[:300],
        **source,
    )


def _alert_create(session: InfusionSession, finding: rules.Finding, **source: Any) -> VitalAlert:
    alert = _alert(session, finding, **source)
    alert.save()
    return alert


def _latest_reading(session: InfusionSession) -> rules.Reading | None:
    last = session.vitals.order_by("-taken_at", "-pk").first()
    return _reading(last) if last else None


def _sign_alerts(session: InfusionSession, sign_ids: list[str], **source: Any) -> list[VitalAlert]:
    """MON-BP-4 / MON-X-1 from what the nurse recorded, with the latest BP (any BP counts)."""
    findings = rules.sign_findings(sign_ids, latest=_latest_reading(session))
    return [_alert_create(session, f, **source) for f in findings]


VITALS_BATCH_MAX = 60  # readings per request: one an hour's worth at a reading a minute


@transaction.atomic
def vitals_record_batch(
    *, actor: User, session: InfusionSession, readings: list[dict[str, Any]]
) -> list[VitalSign]:
    """Store several readings of one session at once (a monitor sending what it buffered), all
    or none: each is checked and alerted exactly as `vital_record` does (a warning sign's rule is
    raised once, by the first reading, and then waits for acknowledgement), and each gets its own
    audit event. Field errors are keyed `readings.<index>.<field>`."""
    _require_run(actor)
    if not 1 <= len(readings) <= VITALS_BATCH_MAX:
        raise ValidationError({"readings": [f"Send 1 to {VITALS_BATCH_MAX} readings."]})
    session = _lock_for_reading(session)
    phase = _vital_phase(session)
    phase_at = _PhaseAt(session, phase)  # issue 21 point 12: each reading's own phase
    errors: dict[str, list[str]] = {}
    vitals = []
    for index, values in enumerate(readings):
        own: dict[str, list[str]] = {}
        vitals.append(
            _vital_build(
                actor=actor,
                session=session,
                phase=phase_at(values.get("taken_at")),
                errors=own,
                **values,
            )
        )
        errors.update({f"readings.{index}.{field}": m for field, m in own.items()})
    if errors:
        raise ValidationError(errors)
    VitalSign.objects.bulk_create(vitals)
    if any(v.pk is None for v in vitals):  # a backend without RETURNING: read the ids back
        raise RuntimeError("bulk_create did not return primary keys")
    baseline = selectors.baseline_reading(session) if phase != VitalPhase.PRE else None
    signs = _signs_to_raise(session)
    per_vital = []
    for v in vitals:
        per_vital.append((v, _vital_findings(v, baseline, signs)))
        signs = []  # raised by the first reading; open until acknowledged
    alerts = VitalAlert.objects.bulk_create(
        [_alert(session, f, vital=v) for v, findings in per_vital for f in findings]
    )
    for v, _ in per_vital:
        _alerts_known(v, [a for a in alerts if a.vital_id == v.pk])
    audit_record_batch(
        actor=actor,
        action=AuditAction.CREATE,
        patient=None,
        patient_id=session.patient_id,
        objs=vitals,
        details=[
            {"session": session.pk, "event": "vitals", "alerts": [f.rule_id for f in findings]}
            for _, findings in per_vital
        ],
    )
    return vitals


def _reading(v: VitalSign) -> rules.Reading:
    return rules.Reading(
        systolic_mmhg=v.systolic_mmhg,
        diastolic_mmhg=v.diastolic_mmhg,
        heart_rate_bpm=v.heart_rate_bpm,
        spo2_pct=v.spo2_pct,
        respiratory_rate=v.respiratory_rate,
        sedation=v.sedation,
    )


def bp_gate_findings(session: InfusionSession) -> list[rules.Finding]:
    baseline = selectors.baseline_reading(session)
    return rules.pre_infusion_findings(_reading(baseline)) if baseline else []


def bp_gate_open(session: InfusionSession) -> bool:
    """MON-BP-1/2: open when the last pre-infusion BP is below the thresholds, or a prescriber
    recorded an override after that reading."""
    baseline = selectors.baseline_reading(session)
    if baseline is None:
        return False
    if not rules.pre_infusion_findings(_reading(baseline)):
        return True
    return session.bp_override_at is not None and session.bp_override_at >= baseline.created_at


@transaction.atomic
def session_bp_override(
    *, actor: User, session: InfusionSession, reason: str, at: datetime | None = None
) -> InfusionSession:
    if actor.role != Role.PRESCRIBER or not actor.has_role_perm(Perm.SESSION_BP_OVERRIDE):
        raise PermissionDenied("Only a prescriber may override the blood-pressure gate.")
    session = _lock(session)
    _require_state(session, S.PRE_CHECKS)
    if len(reason.strip()) < 5:
        raise ValidationError({"reason": ["Write the reason for starting despite the BP."]})
    findings = bp_gate_findings(session)
    if not findings:
        raise ValidationError({"reason": ["The blood pressure does not need an override."]})
    session.bp_override_by = actor
    session.bp_override_at = _at(at)
    session.bp_override_reason = reason.strip()
    session.save(update_fields=["bp_override_by", "bp_override_at", "bp_override_reason"])
    _audit(
        actor,
        session,
        session,
        event="bp_override",
        rule_ids=[f.rule_id for f in findings],
        reason=session.bp_override_reason,
    )
    return session


def _controlled_start_gate(session: InfusionSession, *, at: datetime | None = None) -> None:
    """Issue 21 point 6 (CS-4, CS-31, CS-42): no start without the location's current DEA
    registration and a draw linked to this session, nor without the day's PRE-7 facility check;
    refused before anything is written."""
    problems = facility.facility_problems(session, at=at) + controlled_link.start_problems(session)
    if problems:
        raise ValidationError({"state": problems})


_PUMP_FROM = {
    PumpAction.START: ((S.PRE_CHECKS,), S.INFUSING),
    PumpAction.PAUSE: ((S.INFUSING,), S.PAUSED),
    PumpAction.RESUME: ((S.PAUSED,), S.INFUSING),
    PumpAction.STOP: ((S.INFUSING, S.PAUSED), S.RECOVERING),
}


@transaction.atomic
def pump_event_record(
    *,
    actor: User,
    session: InfusionSession,
    action: str,
    reason: str = "",
    stop_reason: str = "",
    at: datetime | None = None,
) -> PumpEvent:
    """A pump start, pause, resume or stop. Issue 21 point 5: a stop before the order's infusion
    time (pump running time < ordered minutes) needs `stop_reason`, a code of
    data/early_stop_reasons.json ("other" also needs the words in `reason`)."""
    _require_run(actor)
    session = _lock(session)
    if action not in _PUMP_FROM:
        raise ValidationError({"action": ["start, pause, resume or stop."]})
    allowed, target = _PUMP_FROM[PumpAction(action)]
    _require_state(session, *allowed)
    now = _at(at)
    if action == PumpAction.START and not bp_gate_open(session):
        findings = bp_gate_findings(session)
        ids = ", ".join(f.rule_id for f in findings) or "MON-T1"
        raise ValidationError(
            {
                "state": [
                    f"{ids}: the blood-pressure gate is closed; a prescriber's override "
                    "with a reason is required (or no pre-infusion reading yet)."
                ]
            }
        )
    if (
        action == PumpAction.START
        and session.alerts.filter(acknowledged_at__isnull=True, vital__isnull=True).exists()
    ):
        raise ValidationError(
            {"state": ["MON-BP-4/MON-X-1: acknowledge the open alerts before the start."]}
        )
    verbal: VerbalOrder | None = None
    if action == PumpAction.START:
        _controlled_start_gate(session, at=now)
    if action == PumpAction.RESUME:
        gate = selectors.resume_gate(session)
        if gate.open_alerts:
            raise ValidationError({"state": ["Acknowledge the open alerts before resuming."]})
        if gate.needs_prescriber_order and actor.role != Role.PRESCRIBER:
            if gate.verbal_order is None:
                # Issue 21 point 4: a refusal the nurse can act on, not a bare 403.
                raise ValidationError({"state": [MON_BP_3_RESUME_REFUSED]})
            verbal = gate.verbal_order
            if not reason.strip():
                reason = (
                    f"MON-BP-3: resumed on the {verbal.get_kind_display().lower()} order of "
                    f"{verbal.prescriber}"
                )
    early = False
    if action == PumpAction.STOP:
        early = _stop_check(session, now=now, stop_reason=stop_reason, reason=reason)
    event = PumpEvent.objects.create(
        session=session,
        action=action,
        at=now,
        reason=reason.strip()[:500],
        ended_early=early,
        stop_reason=stop_reason if action == PumpAction.STOP else "",
        actor=actor,
    )
    if verbal is not None:
        verbal.resume_event = event
        verbal.save(update_fields=["resume_event"])
    session.state = target
    fields = ["state"]
    if action == PumpAction.STOP:
        session.infusion_ended_at = now
        fields.append("infusion_ended_at")
    session.save(update_fields=fields)
    _audit(
        actor,
        session,
        event,
        event="pump_" + action,
        reason=event.reason,
        **({"verbal_order": verbal.pk} if verbal is not None else {}),
        **({"ended_early": True, "stop_reason": event.stop_reason} if early else {}),
    )
    return event


def _stop_check(session: InfusionSession, *, now: datetime, stop_reason: str, reason: str) -> bool:
    """Issue 21 point 5: whether this stop comes before the ordered infusion time, and then
    that its reason is given (a known code; words for "other")."""
    seconds = rules.running_seconds(dose.pump_events(session), now=now)
    early = rules.ended_early(running_seconds=seconds, duration_min=session.order.duration_min)
    reasons = rules.early_stop_reasons()
    errors: dict[str, list[str]] = {}
    if stop_reason and stop_reason not in reasons:
        errors["stop_reason"] = ["Choose a reason from the list."]
    elif early and not stop_reason:
        minutes = int(seconds // 60)
        errors["stop_reason"] = [
            f"The pump ran {minutes} of the ordered {session.order.duration_min} min: "
            "give the reason for stopping early."
        ]
    elif stop_reason and reasons[stop_reason].requires_text and not reason.strip():
        errors["reason"] = ["Describe the reason for stopping early."]
    if errors:
        raise ValidationError(errors)
    return early


MON_BP_3_RESUME_REFUSED = (
    "MON-BP-3: after a blood-pressure pause the pump resumes only on the prescriber's order. "
    "Ask the prescriber to resume, or record their verbal or telephone order (read back) below; "
    "then resume."
)


def _location_prescriber(session: InfusionSession, user: Any) -> bool:
    return (
        isinstance(user, User)
        and user.is_active
        and user.role == Role.PRESCRIBER
        and user.locations.filter(pk=session.location_id).exists()
    )


@transaction.atomic
def verbal_order_record(
    *,
    actor: User,
    session: InfusionSession,
    prescriber: User,
    kind: str,
    read_back: bool,
    given_at: datetime | None = None,
    instruction: str = "",
) -> VerbalOrder:
    """MON-BP-3, issue 21 point 4: the nurse records the prescriber's verbal or telephone order
    to resume after a blood-pressure pause, read back to the prescriber; it lets the nurse resume
    once, and waits for the prescriber's co-signature."""
    _require_run(actor)
    session = _lock(session)
    _require_state(session, S.PAUSED)
    gate = selectors.resume_gate(session)
    if not gate.needs_prescriber_order or gate.bp3_alert is None:
        raise ValidationError(
            {"__all__": ["No MON-BP-3 pause: resuming needs no prescriber's order."]}
        )
    if gate.verbal_order is not None:
        raise ValidationError(
            {"__all__": ["A prescriber's order to resume is already recorded for this pause."]}
        )
    errors: dict[str, list[str]] = {}
    if not _location_prescriber(session, prescriber):
        errors["prescriber"] = ["Choose a prescriber of this location."]
    elif prescriber.pk == actor.pk:
        errors["prescriber"] = ["A prescriber resumes the pump directly; no verbal order needed."]
    if kind not in VerbalOrderKind.values:
        errors["kind"] = ["Verbal or telephone."]
    given = given_at or timezone.now()
    reading = gate.bp3_alert.vital
    if timezone.is_naive(given):
        errors["given_at"] = ["Give the time with its UTC offset."]
    elif given > timezone.now() + FUTURE_SKEW:
        errors["given_at"] = ["The order cannot be given in the future."]
    elif reading is not None and given < reading.taken_at.replace(second=0, microsecond=0):
        # Typed to the minute: the reading's own minute counts as after it.
        errors["given_at"] = ["Before the MON-BP-3 reading it answers."]
    if not read_back:
        errors["read_back"] = ["Read the order back to the prescriber and confirm it."]
    if errors:
        raise ValidationError(errors)
    order = VerbalOrder.objects.create(
        session=session,
        kind=kind,
        prescriber=prescriber,
        given_at=given,
        instruction=instruction.strip()[:500],
        read_back=True,
        alert=gate.bp3_alert,
        recorded_by=actor,
        recorded_at=timezone.now(),
    )
    _audit(
        actor,
        session,
        order,
        event="verbal_order_record",
        rule_id="MON-BP-3",
        kind=kind,
        prescriber=prescriber.pk,
        alert=gate.bp3_alert.pk,
    )
    return order


def verbal_order_cosign(
    *, actor: User, order: VerbalOrder, password: str = "", totp: str = ""
) -> VerbalOrder:
    """Issue 21 point 4: the prescriber who gave a verbal or telephone order co-signs it,
    re-authenticating as for signing a dosing order (password or TOTP code). The
    re-authentication runs outside the transaction so that a failed attempt's audit is kept."""
    if actor.role != Role.PRESCRIBER or order.prescriber_id != actor.pk:
        raise PermissionDenied("Only the prescriber who gave the order co-signs it.")
    require_at_location(actor, order.session.location_id, "Not one of your locations.")
    if order.cosigned_at is not None:
        raise ValidationError({"__all__": ["This order is already co-signed."]})
    field, method = ("totp", "totp") if totp else ("password", "password")
    secret = totp or password
    if not secret.strip():
        raise ValidationError({"password": ["Re-enter your password or a TOTP code to co-sign."]})
    if not user_reauthenticate(user=actor, secret=secret, purpose="co-sign verbal order"):
        raise ValidationError({field: ["Not correct: re-enter your password or a current code."]})
    return _verbal_order_cosign(actor=actor, order=order, method=method)


@transaction.atomic
def _verbal_order_cosign(*, actor: User, order: VerbalOrder, method: str) -> VerbalOrder:
    order = (
        VerbalOrder.objects.select_for_update()
        .select_related("session__patient", "prescriber")
        .get(pk=order.pk)
    )
    if order.cosigned_at is not None:
        raise ValidationError({"__all__": ["This order is already co-signed."]})
    order.cosigned_at = timezone.now()
    order.cosign_method = method
    order.save(update_fields=["cosigned_at", "cosign_method"])
    _audit(actor, order.session, order, event="verbal_order_cosign", method=method)
    return order


@transaction.atomic
def alert_acknowledge(
    *, actor: User, alert: VitalAlert, note: str = "", at: datetime | None = None
) -> VitalAlert:
    _require_run(actor)
    alert = (
        VitalAlert.objects.select_for_update().select_related("session__patient").get(pk=alert.pk)
    )
    if alert.acknowledged_at is not None:
        raise ValidationError({"alert": ["Already acknowledged."]})
    alert.acknowledged_by = actor
    alert.acknowledged_at = _at(at)
    alert.acknowledge_note = note.strip()[:500]
    alert.save(update_fields=["acknowledged_by", "acknowledged_at", "acknowledge_note"])
    _audit(actor, alert.session, alert, event="alert_ack", rule_id=alert.rule_id)
    return alert


@transaction.atomic
def side_effect_record(
    *,
    actor: User,
    session: InfusionSession,
    code: str,
    grade: Any,
    onset_at: datetime | None = None,
    note: str = "",
) -> SideEffect:
    """An effect from the AE-* catalogue with its grade (1 mild, 2 moderate, 3 severe)."""
    _require_run(actor)
    session = _lock(session)
    _require_state(session, S.CHECKED_IN, S.PRE_CHECKS, S.INFUSING, S.PAUSED, S.RECOVERING)
    errors: dict[str, list[str]] = {}
    if code not in rules.side_effect_catalogue():
        errors["code"] = ["Choose an effect from the catalogue (AE-1 to AE-14)."]
    level = _int(grade, "grade", 1, 3, errors)
    onset = onset_at or timezone.now()
    if onset > timezone.now() + FUTURE_SKEW:
        errors["onset_at"] = ["Cannot be in the future."]
    if errors:
        raise ValidationError(errors)
    effect = SideEffect.objects.create(
        session=session, code=code, grade=level, onset_at=onset, note=note[:500], recorded_by=actor
    )
    alerts = _sign_alerts(
        session, rules.signs_for_side_effect(code, level or 0), side_effect=effect
    )
    _audit(
        actor,
        session,
        effect,
        event="side_effect",
        code=code,
        grade=level,
        alerts=[a.rule_id for a in alerts],
    )
    return effect


@transaction.atomic
def symptom_record(
    *,
    actor: User,
    session: InfusionSession,
    code: str,
    observed_at: datetime | None = None,
    note: str = "",
) -> Symptom:
    """A warning sign (data/warning_signs.json) raises its rule's alert at once: MON-BP-4
    (stop, emergency protocol) or MON-X-1 (pause/stop, low-stimulus room, benzodiazepine)."""
    _require_run(actor)
    session = _lock(session)
    _require_state(session, S.CHECKED_IN, S.PRE_CHECKS, S.INFUSING, S.PAUSED, S.RECOVERING)
    errors: dict[str, list[str]] = {}
    if code not in rules.warning_signs():
        errors["code"] = ["Choose a sign from the list (MON-BP-4, MON-X-1)."]
    observed = observed_at or timezone.now()
    if timezone.is_naive(observed):
        errors["observed_at"] = ["Give the time with its UTC offset."]
    elif observed > timezone.now() + FUTURE_SKEW:
        errors["observed_at"] = ["Cannot be in the future."]
    if errors:
        raise ValidationError(errors)
    symptom = Symptom.objects.create(
        session=session, code=code, observed_at=observed, note=note[:500], recorded_by=actor
    )
    alerts = _sign_alerts(session, [code], symptom=symptom)
    _audit(
        actor,
        session,
        symptom,
        event="symptom",
        code=code,
        alerts=[a.rule_id for a in alerts],
    )
    return symptom


def _resolve(
    actor: User, item: Symptom | SideEffect, event: str, at: datetime | None = None
) -> None:
    """Mark a symptom or side effect resolved now, once (a second call changes nothing)."""
    _require_run(actor)
    if item.resolved_at is None:
        item.resolved_at = _at(at)
        item.save(update_fields=["resolved_at"])
        _audit(actor, item.session, item, event=event, code=item.code)


@transaction.atomic
def symptom_resolve(*, actor: User, symptom: Symptom, at: datetime | None = None) -> Symptom:
    _resolve(actor, symptom, "symptom_resolved", at)
    return symptom


@transaction.atomic
def side_effect_resolve(
    *, actor: User, effect: SideEffect, at: datetime | None = None
) -> SideEffect:
    _resolve(actor, effect, "side_effect_resolved", at)
    return effect


@transaction.atomic
def discharge_score_record(
    *,
    actor: User,
    session: InfusionSession,
    aldrete: dict[str, int],
    padss: dict[str, int],
    voiding_not_required: bool = False,
    at: datetime | None = None,
) -> DischargeScore:
    """DIS-1 (modified Aldrete) and DIS-2 (PADSS); DIS-4: 'voiding not required' scores the
    intake/output item as if voided, and the choice is recorded."""
    _require_run(actor)
    session = _lock(session)
    _require_state(session, S.RECOVERING)
    padss = dict(padss)
    if voiding_not_required and padss.get("intake_output") == 1:
        padss["intake_output"] = 2
    score = DischargeScore.objects.create(
        session=session,
        assessed_at=_at(at),
        aldrete=aldrete,
        padss=padss,
        aldrete_total=rules.score_total(aldrete, rules.ALDRETE_ITEMS, "aldrete"),
        padss_total=rules.score_total(padss, rules.PADSS_ITEMS, "padss"),
        voiding_not_required=voiding_not_required,
        assessed_by=actor,
    )
    _audit(
        actor,
        session,
        score,
        event="discharge_score",
        aldrete=score.aldrete_total,
        padss=score.padss_total,
    )
    return score


def discharge_problems(session: InfusionSession, *, now: datetime | None = None) -> list[str]:
    """DIS-3: what still stands between this patient and discharge."""
    now = now or timezone.now()
    problems: list[str] = []
    if session.state != S.RECOVERING or session.infusion_ended_at is None:
        return ["The infusion has not been stopped yet."]
    minimum = timedelta(minutes=conf("min_observation_min"))
    if now < session.infusion_ended_at + minimum:
        left = int((session.infusion_ended_at + minimum - now).total_seconds() // 60) + 1
        problems.append(f"MON-T5: minimum observation not over ({left} min left).")
    score = session.discharge_scores.order_by("-assessed_at", "-pk").first()
    if score is None:
        problems.append("DIS-1/DIS-2: no discharge score recorded.")
    else:
        if score.aldrete_total < conf("aldrete_min"):
            problems.append(
                f"DIS-1: modified Aldrete {score.aldrete_total} < {conf('aldrete_min')}."
            )
        if score.padss_total < conf("padss_min"):
            problems.append(f"DIS-2: PADSS {score.padss_total} < {conf('padss_min')}.")
    if not session.escort_name:
        problems.append("PRE-5: no escort recorded.")
    if session.side_effects.filter(grade=3, resolved_at__isnull=True).exists():
        problems.append("DIS-3: a grade-3 side effect is unresolved.")
    if session.alerts.filter(acknowledged_at__isnull=True).exists():
        problems.append("An alert is not acknowledged.")

    problems += controlled_link.discharge_problems(session)  # issue 21 point 6: CS-31/32/42/43
    return problems


@transaction.atomic
def session_discharge(
    *, actor: User, session: InfusionSession, escort_name: str, at: datetime | None = None
) -> InfusionSession:
    """DIS-3; the discharging nurse or prescriber is the sign-off."""
    _require_run(actor)
    session = _lock(session)
    now = _at(at)
    problems = discharge_problems(session, now=now)
    if not escort_name.strip():
        problems.append("PRE-5: name the escort the patient leaves with.")
    if problems:
        raise ValidationError({"__all__": problems})
    session.state = S.DISCHARGED
    session.discharged_at = now
    session.discharged_by = actor
    session.discharged_to_escort = escort_name.strip()[:200]
    session.save(update_fields=["state", "discharged_at", "discharged_by", "discharged_to_escort"])
    _audit(actor, session, session, event="discharge", escort=session.discharged_to_escort)
    _appointment_complete(actor, session, at=now if at is not None else None)
    return session


def _appointment_complete(
    actor: User, session: InfusionSession, *, at: datetime | None = None
) -> None:
    """Issue 21 point 7: the discharge completes the visit's appointment (scheduling's service,
    audited, in the discharge's transaction), so billing can invoice it."""
    if session.appointment_id is None:
        return
    from infusionclinic.scheduling.services import appointment_complete

    appointment_complete(actor=actor, appointment=session.appointment, session_id=session.pk, at=at)


@transaction.atomic
def session_cancel(
    *, actor: User, session: InfusionSession, no_show: bool, reason: str
) -> InfusionSession:
    _require_run(actor)
    session = _lock(session)
    _require_state(session, S.SCHEDULED, S.CHECKED_IN, S.PRE_CHECKS)
    if not reason.strip():
        raise ValidationError({"reason": ["Give a reason."]})
    session.state = S.NO_SHOW if no_show else S.CANCELLED
    session.state_reason = reason.strip()[:500]
    session.save(update_fields=["state", "state_reason"])
    _audit(actor, session, session, event=session.state, reason=session.state_reason)
    return session


def note_text(session: InfusionSession) -> str:
    """The session note from the record (issue 7 item 6)."""
    tz = session.location.tzinfo

    def t(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "-"

    order = session.order
    lines = [
        f"Infusion session {session.pk} — {session.patient.given_name} "
        f"{session.patient.family_name} (MRN {session.patient.mrn}), {session.location.name}",
        f"Order {order.label}: {order.dose_mg} mg ketamine at {order.rate_ml_per_h} mL/h, "
        f"{order.concentration_mg_per_ml} mg/mL, {order.duration_min} min.",
        f"Dose given (pump running time × rate × concentration): "
        f"{dose.dose_given_mg(session)} mg of {order.dose_mg} mg ordered.",
        f"Checked in {t(session.checked_in_at)}; escort {session.escort_name} "
        f"({session.escort_phone}).",
    ]
    lines += _note_early_stop_lines(session)
    if session.bp_override_at:
        lines.append(
            f"BP gate overridden by {session.bp_override_by} at {t(session.bp_override_at)}: "
            f"{session.bp_override_reason}"
        )
    lines.append("Pump:")
    lines += [f"  {t(e.at)} {e.action} {e.reason}".rstrip() for e in session.pump.all()]
    lines += _note_verbal_order_lines(session, t)
    lines.append("Vital signs (time, phase, BP mmHg, HR, SpO2 %, RR, MOAA/S, dissociation):")
    for v in session.vitals.all():
        lines.append(
            f"  {t(v.taken_at)} {v.phase} {v.systolic_mmhg}/{v.diastolic_mmhg} "
            f"{v.heart_rate_bpm} {v.spo2_pct} {v.respiratory_rate} "
            f"{'-' if v.sedation is None else v.sedation} "
            f"{'-' if v.dissociation is None else v.dissociation}"
        )
    lines.append("Alerts:")
    for a in session.alerts.all():
        lines.append(
            f"  {a.rule_id} ({a.level}) {a.message} — acknowledged by "
            f"{a.acknowledged_by or 'nobody'} {t(a.acknowledged_at)}"
        )
    signs = rules.warning_signs()
    lines.append("Warning signs (MON-BP-4, MON-X-1):")
    for sx in session.symptoms.all():
        sign = signs.get(sx.code)
        lines.append(
            f"  {t(sx.observed_at)} {sign.name if sign else sx.code} "
            f"({sign.rule_id if sign else '-'}){' ' + sx.note if sx.note else ''}"
            f"{', resolved ' + t(sx.resolved_at) if sx.resolved_at else ''}"
        )
    precheck = getattr(session, "precheck", None)
    if precheck is not None:
        lines.append(
            f"Pre-checks {t(precheck.recorded_at)}: weight {precheck.weight_kg} kg; "
            "questionnaires "
            + (
                ", ".join(f"{q['code']} #{q['assessment_id']}" for q in precheck.questionnaires)
                or "-"
            )
            + "."
        )
    catalogue = rules.side_effect_catalogue()
    lines.append("Side effects:")
    for s in session.side_effects.all():
        lines.append(
            f"  {t(s.onset_at)} {s.code} {catalogue.get(s.code, '')}, grade {s.grade}"
            f"{', resolved ' + t(s.resolved_at) if s.resolved_at else ''}"
        )
    score = session.discharge_scores.order_by("-assessed_at").first()
    if score:
        lines.append(
            f"Discharge scores {t(score.assessed_at)}: modified Aldrete {score.aldrete_total}/10, "
            f"PADSS {score.padss_total}/10."
        )
    lines.append(
        f"Infusion ended {t(session.infusion_ended_at)}; discharged {t(session.discharged_at)} "
        f"by {session.discharged_by or '-'} to {session.discharged_to_escort or '-'}."
    )
    lines += _note_controlled_lines(session)
    # Issue 21 point 13: PRN medicines given in the chair under a signed standing order.
    lines += prn.prn_note_lines(session)
    return "\n".join(lines)


def _note_early_stop_lines(session: InfusionSession) -> list[str]:
    """Issue 21 point 5: an infusion stopped before the ordered time says so, with its reason
    and the dose given against the dose ordered."""
    early = selectors.early_stop(session)
    if early is None:
        return []
    return [
        f"Infusion ended early: the pump ran {early.running_min} of the ordered "
        f"{early.ordered_min} min; reason: {early.label}"
        f"{' — ' + early.text if early.text else ''}. "
        f"Dose given {early.dose_given_mg} mg of {early.dose_ordered_mg} mg ordered."
    ]


def _note_verbal_order_lines(session: InfusionSession, t: Any) -> list[str]:
    """MON-BP-3, issue 21 point 4: each prescriber's verbal or telephone order to resume, who
    took it, and whether the prescriber has co-signed it yet."""
    orders = list(session.verbal_orders.select_related("prescriber", "recorded_by"))
    if not orders:
        return []
    lines = ["Prescriber's orders to resume after a blood-pressure pause (MON-BP-3):"]
    for o in orders:
        state = (
            f"co-signed by {o.prescriber} {t(o.cosigned_at)}"
            if o.cosigned_at
            else f"awaiting co-signature by {o.prescriber}"
        )
        lines.append(
            f"  {t(o.given_at)} {o.get_kind_display().lower()} order of {o.prescriber}"
            f"{': ' + o.instruction if o.instruction else ''}; taken and read back by "
            f"{o.recorded_by} {t(o.recorded_at)}; "
            f"{'used for the resume ' + t(o.resume_event.at) if o.resume_event else 'not used'}"
            f"; {state}."
        )
    return lines


def _note_controlled_lines(session: InfusionSession) -> list[str]:
    """CS-32, CS-43: the controlled-substance log's draws of this session beside the pump's dose
    given; a difference is written into the note by rule id, not left out."""
    check = dose.session_dose_check(session)
    lines = ["Controlled-substance log (CS-32, CS-43):"]
    for line in check.lines:
        lines.append(
            f"  draw #{line.draw.pk} lot {line.draw.lot.lot_number}: drawn {line.drawn_ml} mL "
            f"({line.drawn_mg.normalize():f} mg), administered {line.administered_ml} mL "
            f"({line.administered_mg.normalize():f} mg), wasted {line.wasted_ml} mL, "
            f"not accounted for {line.open_ml} mL"
        )
    if not check.lines:
        lines.append("  no draw linked to this session")
    lines.append(
        f"  pump's dose given {check.pump_mg} mg; administered in the log "
        f"{check.administered_mg.normalize():f} mg"
    )
    lines += [f"  MISMATCH {p.rule_id}: {p.message}" for p in check.problems]
    lines += [f"  {text}" for text in check.which_lines()]  # issue 22 point 10: which figure
    # Issue 21 point 6: a prescriber's exception.
    lines += controlled_link.note_exception_lines(session)
    return lines


@transaction.atomic
def note_generate(
    *, actor: User, session: InfusionSession, at: datetime | None = None
) -> SessionNote:
    _require_run(actor)
    session = _lock(session)
    _require_state(session, S.DISCHARGED)
    note = SessionNote.objects.select_for_update().filter(session=session).first()
    if note is not None and (note.nurse_signed_at or note.prescriber_signed_at):
        raise ValidationError({"note": ["Signed notes are not regenerated; add an amendment."]})
    body = note_text(session)
    generated_at = _at(at)
    if note is None:
        note = SessionNote.objects.create(session=session, body=body, generated_at=generated_at)
    else:
        note.body = body
        note.generated_at = generated_at
        note.save(update_fields=["body", "generated_at"])
    _audit(actor, session, note, event="note_generate")
    return note


@transaction.atomic
def note_sign(*, actor: User, note: SessionNote, at: datetime | None = None) -> SessionNote:
    _require_run(actor)
    note = (
        SessionNote.objects.select_for_update().select_related("session__patient").get(pk=note.pk)
    )

    # Issue 21 point 6: CS-31/32/42/43.
    if problems := controlled_link.note_sign_problems(note.session):
        raise ValidationError({"note": problems})
    now = _at(at)
    if actor.role == Role.NURSE:
        if note.nurse_signed_at:
            raise ValidationError({"note": ["A nurse already signed."]})
        note.nurse_signed_by, note.nurse_signed_at = actor, now
    elif actor.role == Role.PRESCRIBER:
        if note.prescriber_signed_at:
            raise ValidationError({"note": ["A prescriber already signed."]})
        note.prescriber_signed_by, note.prescriber_signed_at = actor, now
    else:
        raise PermissionDenied("A nurse and a prescriber sign the note.")
    note.save()
    _audit(actor, note.session, note, event="note_sign", role=actor.role, locked=note.locked)
    return note


@transaction.atomic
def note_amend(*, actor: User, note: SessionNote, text: str, reason: str) -> NoteAmendment:
    _require_run(actor)
    if not note.locked:
        raise ValidationError({"note": ["The note is not locked yet: regenerate it instead."]})
    errors = {}
    if not text.strip():
        errors["text"] = ["Write the amendment."]
    if not reason.strip():
        errors["reason"] = ["Give the reason for the amendment."]
    if errors:
        raise ValidationError(errors)
    amendment = NoteAmendment.objects.create(
        note=note, text=text.strip(), reason=reason.strip()[:500], author=actor
    )
    _audit(actor, note.session, amendment, event="note_amend", reason=amendment.reason)
    return amendment


def session_open_for_appointment(*, actor: User, appointment: Appointment) -> InfusionSession:
    """The day board's "open session": the appointment's session with the patient's latest
    signed order (an existing session is returned as it is)."""
    from infusionclinic.dosing.selectors import previous_signed_order

    existing = InfusionSession.objects.filter(appointment=appointment).first()
    if existing is not None:
        return existing
    if appointment.kind != "infusion" or appointment.status != "booked":
        raise ValidationError({"appointment": ["Only a booked infusion opens a session."]})
    order = previous_signed_order(patient=appointment.patient)
    if order is None:
        raise ValidationError({"order": ["No signed dosing order for this patient."]})
    return session_create(
        actor=actor,
        patient=appointment.patient,
        order=order,
        location=appointment.location,
        scheduled_at=appointment.starts_at,
        appointment=appointment,
    )


@transaction.atomic
def session_cs_exception_record(
    *, actor: User, session: InfusionSession, reason: str
) -> ControlledException:
    """A prescriber documents why the session may be discharged and its note signed although the
    controlled-substance log still differs (the differences named now are what it covers)."""
    if actor.role != Role.PRESCRIBER or not actor.has_role_perm(Perm.SESSION_RUN):
        raise PermissionDenied("Only a prescriber records a controlled-substance exception.")
    session = InfusionSession.objects.select_for_update().get(pk=session.pk)
    if session.state not in controlled_link.EXCEPTION_STATES:
        raise ValidationError(
            {"state": ["An exception is recorded once the infusion is over (recovery or later)."]}
        )
    note = SessionNote.objects.select_for_update().filter(session=session).first()
    if note is not None and (note.nurse_signed_at or note.prescriber_signed_at):
        raise ValidationError(
            {"state": ["The note has a signature already: the exception cannot be added to it."]}
        )
    reason = (reason or "").strip()
    if len(reason) < controlled_link.EXCEPTION_REASON_MIN:
        raise ValidationError(
            {"reason": ["Document the reason: what happened and what was done about it."]}
        )
    problems = controlled_link.open_problems(session)
    if not problems:
        raise ValidationError(
            {"reason": ["The controlled-substance log shows no difference for this session."]}
        )
    exception = ControlledException.objects.create(
        session=session,
        reason=reason[:2000],
        problems=[[p.rule_id, p.message] for p in problems],
        recorded_by=actor,
        recorded_at=timezone.now(),
    )
    if note is not None:  # the unsigned note shows the exception it will be signed with
        note.body = note_text(session)
        note.generated_at = timezone.now()
        note.save(update_fields=["body", "generated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=session.patient,
        obj=exception,
        detail={
            "session": session.pk,
            "event": "cs_exception",
            "rule_ids": [p.rule_id for p in problems],
            "problems": [p.message for p in problems],
            "reason": exception.reason,
        },
    )
    return exception
