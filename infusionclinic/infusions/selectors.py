"""Reads of infusion sessions, scoped by the user: staff who run sessions, at their own
locations, for patients they may see. Anyone else gets 404 and a `denied` audit event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import router
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.common.access import denied
from infusionclinic.common.compiled import CompiledLookup
from infusionclinic.common.ids import id_from_path
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patients_visible_to

from . import rules
from .conf import conf
from .dose import (  # noqa: F401  (read as selectors.* by older callers; owned by dose.py)
    OPEN_STATES,
    dose_given_mg,
    open_session_for_order,
    pump_events,
)
from .dose import dose_from_seconds as _dose
from .models import (
    InfusionSession,
    PumpAction,
    PumpEvent,
    SessionState,
    SideEffect,
    Symptom,
    VerbalOrder,
    VitalAlert,
    VitalSign,
)


def sessions_visible_to(*, user: User, now: datetime | None = None) -> QuerySet[InfusionSession]:
    """Reads only the user's pk, role and active flag, as `patients_visible_to` (the compiled
    look-up below relies on it)."""
    if not user.is_authenticated or not user.has_role_perm(Perm.SESSION_RUN):
        return InfusionSession.objects.none()
    return InfusionSession.objects.filter(
        patient__in=patients_visible_to(user=user, now=now),
        location__in=user.locations.all(),
    )


SESSION_RELATED = ("patient", "location", "order", "appointment__chair")


def _session_visible(
    *, shape: tuple[str, bool], user_id: int, pk: int, now: datetime
) -> QuerySet[InfusionSession]:
    role, is_active = shape
    probe = User(pk=user_id, role=role, is_active=is_active)
    return sessions_visible_to(user=probe, now=now).filter(pk=pk)


# Issue 20 §3: a monitor posts a reading every few minutes per patient; this look-up's SQL
# (patients visible, staff locations) is compiled once per role and process, not per request.
_session_lookup = CompiledLookup(_session_visible, model=InfusionSession)


def session_get_for_user(
    *, user: User, session_id: int | str, related: tuple[str, ...] = SESSION_RELATED
) -> InfusionSession:
    """The session, if this user may see it; otherwise Http404 and a `denied` event. `related`
    narrows the joined rows for hot paths (a monitor's reading needs only the patient)."""
    text = str(session_id)
    pk = id_from_path(text)
    session: InfusionSession | None
    if pk is None:
        session = None
    elif not related and user.is_authenticated and user.pk is not None:
        found = _session_lookup.first(
            router.db_for_read(InfusionSession),
            (user.role, user.is_active),
            user_id=user.pk,
            pk=pk,
            now=timezone.now(),
        )
        session = found if isinstance(found, InfusionSession) else None
    else:
        session = sessions_visible_to(user=user).select_related(*related).filter(pk=pk).first()
    if session is None:
        raise denied(user, "infusions.InfusionSession", text, "No such session.")
    return session


def _baseline(*, shape: None, session_id: int) -> QuerySet[VitalSign]:
    return VitalSign.objects.filter(session_id=session_id, phase="pre").order_by("-taken_at", "-pk")


# Both asked on every reading a monitor posts: compiled once per process (issue 20 §3).
_baseline_lookup = CompiledLookup(_baseline, model=VitalSign)


def baseline_reading(session: InfusionSession) -> VitalSign | None:
    """The last pre-infusion reading (MON-T1): the gate's reading and MON-BP-5's baseline."""
    found = _baseline_lookup.first(router.db_for_read(VitalSign), None, session_id=session.pk)
    return found if isinstance(found, VitalSign) else None


def _signs_present(*, shape: None, session_id: int) -> QuerySet[Any]:
    # One query for both: symptoms carry no grade.
    symptoms = (
        Symptom.objects.filter(session_id=session_id, resolved_at__isnull=True)
        .order_by()
        .values_list("code", Value(None, output_field=IntegerField()))
    )
    side_effects = (
        SideEffect.objects.filter(session_id=session_id, resolved_at__isnull=True)
        .order_by()
        .values_list("code", "grade")
    )
    return symptoms.union(side_effects, all=True)


_signs_lookup = CompiledLookup(_signs_present)


def active_signs(session: InfusionSession) -> list[str]:
    """Warning signs still present (MON-BP-4, MON-X-1): unresolved symptoms and unresolved side
    effects whose grade stands for a sign."""
    signs: list[str] = []
    for code, grade in _signs_lookup.rows(router.db_for_read(Symptom), None, session_id=session.pk):
        signs += [code] if grade is None else rules.signs_for_side_effect(code, grade)
    return signs


@dataclass(frozen=True)
class Questionnaires:
    required: list[str]
    done: dict[str, int]  # code → assessment id
    missing: list[str]
    open_safety_alerts: int  # SCALE-4


def questionnaires_for_visit(session: InfusionSession) -> Questionnaires:
    """PROT-14: the scales collected before this infusion, read from outcomes: PHQ-9 always
    (scales.md §9), the pain NRS when the order is for pain (MON-6), and every instrument
    assigned to the patient, completed on the visit's local day. SCALE-4: open PHQ-9 item 9
    alerts are counted (no start until a clinician acts)."""
    from infusionclinic.outcomes import selectors as outcomes

    tz = session.location.tzinfo
    day = session.scheduled_at.astimezone(tz).date()
    since = datetime.combine(day, time.min, tzinfo=tz)
    required = list(dict.fromkeys(conf("questionnaires_always")))
    if session.order.indication == "pain":  # MON-6: pain NRS for pain patients
        required += [c for c in conf("questionnaires_pain") if c not in required]
    for assignment in outcomes.assignments_active(patient=session.patient):
        if assignment.instrument_code not in required:
            required.append(assignment.instrument_code)
    done = outcomes.submitted_since(patient=session.patient, since=since)
    safety = outcomes.safety_alerts_open(patient=session.patient)
    return Questionnaires(
        required=required,
        done={code: done[code] for code in required if code in done},
        missing=[code for code in required if code not in done],
        open_safety_alerts=len(safety),
    )


def cardiac_risk(patient: Patient) -> bool:
    """MON-5 / PRE-1: the intake records a cardiovascular history."""
    from infusionclinic.intake.models import Intake

    history = Intake.objects.filter(patient=patient).values_list(
        "cardiovascular_history", flat=True
    )
    return any(h.strip() for h in history)


def monitoring_plan(session: InfusionSession) -> list[rules.PlanItem]:
    """MON-1..MON-6 for this session: ECG per MON-5, pain NRS for a pain order (MON-6)."""
    return rules.monitoring_plan(
        ecg=rules.ecg_required(cardiac_risk=cardiac_risk(session.patient)),
        pain=session.order.indication == "pain",
    )


def follow_up_calls_due(*, user: User, location: Location, day: date) -> list[InfusionSession]:
    """DIS-6: the location's patients discharged the day before `day` (location's calendar),
    whom the clinic calls today; empty when the clinic has switched the call off."""
    if not conf("follow_up_call_next_day"):
        return []
    tz = location.tzinfo
    start = datetime.combine(day - timedelta(days=1), time.min, tzinfo=tz)
    end = datetime.combine(day, time.min, tzinfo=tz)
    return list(
        sessions_visible_to(user=user)
        .filter(
            location=location,
            state=SessionState.DISCHARGED,
            discharged_at__gte=start,
            discharged_at__lt=end,
        )
        .select_related("patient")
        .order_by("discharged_at", "pk")
    )


def pump_running_since(session: InfusionSession) -> datetime | None:
    last = session.pump.order_by("-at", "-pk").first()
    if last is not None and last.action in (PumpAction.START, PumpAction.RESUME):
        return last.at
    return None


@dataclass(frozen=True)
class EarlyStop:
    """Issue 21 point 5: a stop before the ordered infusion time and why."""

    at: datetime
    code: str
    label: str
    text: str
    running_min: Decimal
    ordered_min: int
    dose_given_mg: Decimal
    dose_ordered_mg: Decimal


def early_stop(session: InfusionSession) -> EarlyStop | None:
    events = list(session.pump.all())
    stop = next((e for e in reversed(events) if e.action == PumpAction.STOP), None)
    if stop is None or not stop.ended_early:
        return None
    return _early_stop(session, events, stop)


def _early_stop(session: InfusionSession, events: list[PumpEvent], stop: PumpEvent) -> EarlyStop:
    pairs = [(e.action, e.at) for e in events]
    seconds = rules.running_seconds(pairs, now=stop.at)
    reason = rules.early_stop_reasons().get(stop.stop_reason)
    return EarlyStop(
        at=stop.at,
        code=stop.stop_reason,
        label=reason.label if reason else (stop.stop_reason or "not given"),
        text=stop.reason,
        running_min=(seconds / 60).quantize(Decimal("0.1")),
        ordered_min=session.order.duration_min,
        dose_given_mg=_dose(session, seconds),
        dose_ordered_mg=session.order.dose_mg,
    )


@dataclass(frozen=True)
class SessionDose:
    """Issue 21 point 5: one infusion's dose given beside its dose ordered (progress report)."""

    session_id: int
    started_at: datetime
    order_label: str
    dose_ordered_mg: Decimal
    ordered_min: int
    dose_given_mg: Decimal
    running_min: Decimal
    early: EarlyStop | None


def session_doses_for_patient(*, patient: Patient) -> list[SessionDose]:
    """The patient's infusions that started (pump), oldest first: dose given (pump running time
    × rate × concentration) beside the order's dose, and an early stop with its reason. Two
    queries whatever the number of sessions."""
    sessions = (
        InfusionSession.objects.filter(patient=patient, pump__action=PumpAction.START)
        .distinct()
        .select_related("order")
        .prefetch_related("pump")
        .order_by("scheduled_at", "pk")
    )
    out = []
    for session in sessions:
        events = list(session.pump.all())
        stop = next((e for e in reversed(events) if e.action == PumpAction.STOP), None)
        now = stop.at if stop else timezone.now()
        seconds = rules.running_seconds([(e.action, e.at) for e in events], now=now)
        out.append(
            SessionDose(
                session_id=session.pk,
                started_at=next(e.at for e in events if e.action == PumpAction.START),
                order_label=session.order.label,
                dose_ordered_mg=session.order.dose_mg,
                ordered_min=session.order.duration_min,
                dose_given_mg=_dose(session, seconds),
                running_min=(seconds / 60).quantize(Decimal("0.1")),
                early=(_early_stop(session, events, stop) if stop and stop.ended_early else None),
            )
        )
    return out


@dataclass(frozen=True)
class Overdue:
    due_at: datetime
    overdue: bool


def reading_overdue(session: InfusionSession, *, now: datetime | None = None) -> Overdue | None:
    """MON-T2/T4/T6: when the next reading is due while infusing (also paused) or recovering,
    counted from the last reading or from the phase's start; None outside those phases."""
    if session.state not in _MONITORED:
        return None
    started = session.pump.filter(action=PumpAction.START).first()
    last = session.vitals.order_by("-taken_at").values_list("taken_at", flat=True).first()
    return _overdue(
        session, started_at=started.at if started else None, last_reading_at=last, now=now
    )


_MONITORED = (SessionState.INFUSING, SessionState.PAUSED, SessionState.RECOVERING)


def _overdue(
    session: InfusionSession,
    *,
    started_at: datetime | None,
    last_reading_at: datetime | None,
    now: datetime | None,
) -> Overdue | None:
    now = now or timezone.now()
    infusing = session.state in (SessionState.INFUSING, SessionState.PAUSED)
    if not infusing and session.state != SessionState.RECOVERING:
        return None
    phase_start = started_at if infusing and started_at else session.infusion_ended_at
    last = last_reading_at
    anchor = max(t for t in (last, phase_start) if t is not None) if (last or phase_start) else now
    due = rules.reading_due_at(last=anchor, infusing=infusing)
    end_due = (
        None
        if infusing
        else rules.end_of_infusion_due(
            infusion_ended_at=session.infusion_ended_at, last_reading_at=last
        )
    )
    if end_due is not None:  # MON-T3: the end-of-infusion set is due at the stop
        grace = timedelta(minutes=conf("overdue_grace_min"))
        return Overdue(due_at=end_due, overdue=now > end_due + grace)
    return Overdue(
        due_at=due, overdue=rules.reading_overdue(last=anchor, infusing=infusing, now=now)
    )


def board_sessions(*, user: User, location: Location, day: date) -> list[InfusionSession]:
    """The location's sessions of the day, each annotated with what its board card shows (first
    pump start, last reading, open alerts) so the board reads in a fixed number of queries
    whatever the number of sessions (issue 13)."""
    tz = location.tzinfo
    start = datetime.combine(day, time.min, tzinfo=tz)
    first_start = PumpEvent.objects.filter(
        session=OuterRef("pk"), action=PumpAction.START
    ).order_by("at", "pk")
    last_reading = VitalSign.objects.filter(session=OuterRef("pk")).order_by("-taken_at")
    open_alerts = (
        VitalAlert.objects.filter(session=OuterRef("pk"), acknowledged_at__isnull=True)
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return list(
        sessions_visible_to(user=user)
        .filter(location=location, scheduled_at__gte=start, scheduled_at__lt=start + timedelta(1))
        .select_related("patient", "appointment__chair")
        .annotate(
            board_first_start_at=Subquery(first_start.values("at")[:1]),
            board_last_reading_at=Subquery(last_reading.values("taken_at")[:1]),
            board_open_alerts=Coalesce(Subquery(open_alerts), 0),
        )
        .order_by("scheduled_at", "pk")
    )


def board_overdue(session: InfusionSession, *, now: datetime) -> Overdue | None:
    """reading_overdue() from the annotations of board_sessions(), without a query."""
    return _overdue(
        session,
        started_at=session.board_first_start_at,  # type: ignore[attr-defined]
        last_reading_at=session.board_last_reading_at,  # type: ignore[attr-defined]
        now=now,
    )


@dataclass(frozen=True)
class ResumeGate:
    """MON-BP-3 ("during the infusion, SBP >= 180 or DBP >= 110: pause the pump, recheck in 5
    min, notify the prescriber; resume only on the prescriber's order"): what stands before a
    paused pump may run again, and for whom (issue 21 point 4)."""

    open_alerts: bool  # an alert or critical alert not yet acknowledged
    bp3_alert: VitalAlert | None  # a MON-BP-3 crossing since the pump last ran
    verbal_order: VerbalOrder | None  # a prescriber's order taken since the pause, not yet used

    @property
    def needs_prescriber_order(self) -> bool:
        return self.bp3_alert is not None

    def may_resume(self, user: User) -> bool:
        if self.open_alerts:
            return False
        if not self.needs_prescriber_order:
            return True
        return user.role == Role.PRESCRIBER or self.verbal_order is not None


def resume_gate(session: InfusionSession) -> ResumeGate:
    """The resume rules of a paused session, read by the pump service and the session page."""
    open_alerts = session.alerts.filter(
        acknowledged_at__isnull=True, level__in=["alert", "critical"]
    ).exists()
    last_run = session.pump.filter(action__in=["start", "resume"]).order_by("-at", "-pk").first()
    bp3 = session.alerts.filter(rule_id="MON-BP-3").select_related("vital")
    if last_run is not None:
        bp3 = bp3.filter(vital__taken_at__gte=last_run.at)
    bp3_alert = bp3.order_by("pk").first()
    verbal = None
    if bp3_alert is not None:
        last_pause = session.pump.filter(action="pause").order_by("-at", "-pk").first()
        orders = session.verbal_orders.filter(resume_event__isnull=True)
        if last_pause is not None:
            orders = orders.filter(recorded_at__gte=last_pause.at)
        verbal = orders.select_related("prescriber").order_by("-recorded_at", "-pk").first()
    return ResumeGate(open_alerts=open_alerts, bp3_alert=bp3_alert, verbal_order=verbal)


def verbal_orders_awaiting_cosign(*, user: User) -> list[VerbalOrder]:
    """Issue 21 point 4: the verbal and telephone orders this prescriber gave that wait for their
    co-signature, in sessions they may see (their locations)."""
    if not user.is_authenticated or user.role != Role.PRESCRIBER:
        return []
    return list(
        VerbalOrder.objects.filter(
            prescriber=user,
            cosigned_at__isnull=True,
            session__in=sessions_visible_to(user=user),
        )
        .select_related("session__patient", "session__location", "recorded_by")
        .order_by("given_at", "pk")
    )


# --- What other capabilities read of the sessions ---------------------------------------------


def infusion_dates(*, patient: Patient) -> list[date]:
    """The local dates on which the patient's infusions started (the pump's first start): the
    marks on the progress charts (issue 5)."""
    tz = patient.home_location.tzinfo
    starts = (
        PumpEvent.objects.filter(session__patient=patient, action=PumpAction.START)
        .order_by("at")
        .values_list("at", flat=True)
    )
    return sorted({when.astimezone(tz).date() for when in starts})


CHART_VITALS = 20


def vitals_latest_for_patient(*, patient: Patient, limit: int = CHART_VITALS) -> list[VitalSign]:
    """The patient's latest `limit` vitals sets over all their sessions, newest first: the chart
    read (issue 13 operation c). One query whatever the history size: the patient's sessions by
    their patient index, each session's readings by its session index, a top-N sort (PostgreSQL
    plan at 2.4 million readings: 10 sessions, 120 rows read for the 20 shown)."""
    return list(
        VitalSign.objects.filter(session__patient=patient)
        .only(
            "id",
            "session_id",
            "phase",
            "taken_at",
            "systolic_mmhg",
            "diastolic_mmhg",
            "heart_rate_bpm",
            "spo2_pct",
            "respiratory_rate",
            "sedation",
            "dissociation",
        )
        .order_by("-taken_at", "-pk")[:limit]
    )


def side_effects_for_patient(*, patient: Patient, limit: int = 50) -> list[SideEffect]:
    """Side effects recorded in the patient's sessions, newest first (titration history, the
    referring provider's report)."""
    return list(
        SideEffect.objects.filter(session__patient=patient)
        .select_related("session")
        .order_by("-onset_at")[:limit]
    )


def pre_infusion_readings(*, patient: Patient, limit: int = 10) -> list[VitalSign]:
    """The first reading of each of the patient's sessions (the pre-infusion blood pressure),
    newest first."""
    firsts = {}
    for reading in VitalSign.objects.filter(session__patient=patient).order_by(
        "session_id", "taken_at", "pk"
    ):
        firsts.setdefault(reading.session_id, reading)
    return sorted(firsts.values(), key=lambda r: r.taken_at, reverse=True)[:limit]


def discharge_score_details(score: Any) -> list[dict[str, Any]]:
    """A recorded DIS-1 / DIS-2 score in words: each criterion, the score given and its option's
    words (issue 21 point 10)."""
    out: list[dict[str, Any]] = []
    for scale in rules.discharge_scales().values():
        given = getattr(score, scale.id) or {}
        for item in scale.items:
            value = given.get(item.id)
            out.append(
                {
                    "scale": scale.name,
                    "rule_id": scale.rule_id,
                    "criterion": item.name,
                    "score": value,
                    "words": dict(item.options).get(value, "—"),
                }
            )
    return out
