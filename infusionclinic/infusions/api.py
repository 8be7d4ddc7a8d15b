"""API: infusion sessions (/api/v1/sessions/{session_id}...). Every route goes through
`session_get_for_user`, so another location's or another patient's session answers 404.

A bedside monitor posts readings to `/vitals` (one) or `/vitals/batch` (up to 60, all or none)
with an `Idempotency-Key` header: a retried post replays the first answer and never stores a
reading twice."""

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from infusionclinic.api.fields import EdgeDateTime, EdgeDecimal, EdgeInt, Id, PositiveDecimal
from infusionclinic.api.idempotency import idempotent
from infusionclinic.api.schemas import ErrorOut
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.controlled import services as controlled_services

from . import dose, selectors, services
from .models import InfusionSession, VitalSign

router = Router(tags=["infusion sessions"])
ERRORS: dict[int, Any] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
}


class VitalsIn(Schema):
    model_config = ConfigDict(extra="forbid")
    taken_at: EdgeDateTime
    # Ranges are the service's (monitoring.md); here only what the database can hold.
    systolic_mmhg: EdgeInt
    diastolic_mmhg: EdgeInt
    heart_rate_bpm: EdgeInt
    spo2_pct: EdgeInt
    respiratory_rate: EdgeInt
    sedation: EdgeInt | None = None  # MOAA/S 0-5 (MON-3)


class VitalsBatchIn(Schema):
    model_config = ConfigDict(extra="forbid")
    readings: list[VitalsIn] = Field(min_length=1, max_length=services.VITALS_BATCH_MAX)


class AlertOut(Schema):
    id: int
    rule_id: str
    level: str
    message: str
    action: str
    acknowledged: bool


class VitalsOut(Schema):
    id: int
    session_id: int
    phase: str
    taken_at: datetime
    systolic_mmhg: int
    diastolic_mmhg: int
    heart_rate_bpm: int
    spo2_pct: int
    respiratory_rate: int
    sedation: int | None
    alerts: list[AlertOut]


class VitalsBatchOut(Schema):
    readings: list[VitalsOut]


class DoseProblemOut(Schema):
    rule_id: str
    message: str


class DrawOut(Schema):
    draw_id: int
    lot: str
    concentration_mg_per_ml: Decimal
    drawn_ml: Decimal
    administered_ml: Decimal
    wasted_ml: Decimal
    open_ml: Decimal
    # CS-32: what an administration of this draw defaults to (the pump's dose given in mL).
    suggested_administration_ml: Decimal | None


class ControlledOut(Schema):
    """CS-32, CS-43: the session's draws in the controlled-substance log beside the pump."""

    pump_dose_mg: Decimal
    drawn_mg: Decimal
    administered_mg: Decimal
    wasted_mg: Decimal
    open_mg: Decimal
    infusion_over: bool
    mismatch: bool
    problems: list[DoseProblemOut]
    draws: list[DrawOut]
    # Issue 21 point 6: what "start" still needs from the log (CS-4 registration, CS-31/42 draw).
    start_problems: list[str] = []


class EarlyStopOut(Schema):
    """Issue 21 point 5: the pump was stopped before the ordered infusion time."""

    at: datetime
    reason: str  # data/early_stop_reasons.json code
    label: str
    text: str
    running_min: float
    ordered_min: int


class SessionOut(Schema):
    id: int
    patient_id: int
    order_id: int
    location: str
    state: str
    dose_given_mg: float
    dose_ordered_mg: float  # issue 21 point 5: beside the dose given
    early_stop: EarlyStopOut | None
    controlled: ControlledOut
    next_reading_due: datetime | None
    reading_overdue: bool
    open_alerts: list[AlertOut]
    discharge_problems: list[str]


class PumpIn(Schema):
    model_config = ConfigDict(extra="forbid")
    action: Literal["start", "pause", "resume", "stop"]
    reason: str = ""
    # Issue 21 point 5: a code of data/early_stop_reasons.json, required for a stop before the
    # ordered infusion time ("other" also needs `reason`).
    stop_reason: str = ""


class CheckInIn(Schema):
    model_config = ConfigDict(extra="forbid")
    identity_confirmed: bool
    escort_name: str
    escort_phone: str


class PreChecksIn(Schema):
    """Questionnaires are read from outcomes (PROT-14); the weight goes to the chart."""

    model_config = ConfigDict(extra="forbid")
    fasting_confirmed: bool
    pregnancy_test: str
    weight_kg: EdgeDecimal  # plausibility: patients.services (PATIENT_WEIGHT_*)


class OverrideIn(Schema):
    model_config = ConfigDict(extra="forbid")
    reason: str


class SymptomIn(Schema):
    model_config = ConfigDict(extra="forbid")
    code: str  # data/warning_signs.json (MON-BP-4, MON-X-1)
    observed_at: EdgeDateTime | None = None
    note: str = ""


class SymptomOut(Schema):
    id: int
    session_id: int
    code: str
    observed_at: datetime
    alerts: list[AlertOut]


class SideEffectIn(Schema):
    model_config = ConfigDict(extra="forbid")
    code: str  # AE-1 .. AE-14
    grade: EdgeInt  # 1 mild, 2 moderate, 3 severe
    onset_at: EdgeDateTime | None = None
    note: str = ""


class SideEffectOut(Schema):
    id: int
    session_id: int
    code: str
    grade: int
    onset_at: datetime
    alerts: list[AlertOut]


class ScoresIn(Schema):
    """DIS-1 modified Aldrete and DIS-2 PADSS: five items of 0-2 each; DIS-4 voiding choice."""

    model_config = ConfigDict(extra="forbid")
    aldrete: dict[str, EdgeInt]
    padss: dict[str, EdgeInt]
    voiding_not_required: bool = False


class DischargeIn(Schema):
    model_config = ConfigDict(extra="forbid")
    escort_name: str


class AdministrationIn(Schema):
    """CS-32: `qty_ml` (mL of the vial's strength) defaults to the pump's dose given; another
    quantity needs a `reason`."""

    model_config = ConfigDict(extra="forbid")
    draw_id: Id
    qty_ml: PositiveDecimal | None = None
    reason: str = ""


class CancelIn(Schema):
    model_config = ConfigDict(extra="forbid")
    no_show: bool = False
    reason: str


def _alert(a: Any) -> dict[str, Any]:
    return {
        "id": a.pk,
        "rule_id": a.rule_id,
        "level": a.level,
        "message": a.message,
        "action": a.action,
        "acknowledged": a.acknowledged_at is not None,
    }


def _vital(v: VitalSign) -> dict[str, Any]:
    return {
        "id": v.pk,
        "session_id": v.session_id,
        "phase": v.phase,
        "taken_at": v.taken_at,
        "systolic_mmhg": v.systolic_mmhg,
        "diastolic_mmhg": v.diastolic_mmhg,
        "heart_rate_bpm": v.heart_rate_bpm,
        "spo2_pct": v.spo2_pct,
        "respiratory_rate": v.respiratory_rate,
        "sedation": v.sedation,
        "alerts": [_alert(a) for a in v.alerts.all()],
    }


def _controlled(session: InfusionSession) -> dict[str, Any]:
    check = dose.session_dose_check(session)
    draws = []
    for line in check.lines:
        suggestion = check.suggestion(line) if line.open_ml > 0 else None
        draws.append(
            {
                "draw_id": line.draw.pk,
                "lot": line.draw.lot.lot_number,
                "concentration_mg_per_ml": line.draw.concentration_mg_per_ml,
                "drawn_ml": line.drawn_ml,
                "administered_ml": line.administered_ml,
                "wasted_ml": line.wasted_ml,
                "open_ml": line.open_ml,
                "suggested_administration_ml": suggestion.qty_ml if suggestion else None,
            }
        )
    return {
        "pump_dose_mg": check.pump_mg,
        "drawn_mg": check.drawn_mg,
        "administered_mg": check.administered_mg,
        "wasted_mg": check.wasted_mg,
        "open_mg": check.open_mg,
        "infusion_over": check.infusion_over,
        "mismatch": check.mismatch,
        "problems": [{"rule_id": p.rule_id, "message": p.message} for p in check.problems],
        "draws": draws,
        "start_problems": _start_problems(session),
    }


def _early_stop(session: InfusionSession) -> dict[str, Any] | None:
    early = selectors.early_stop(session)
    if early is None:
        return None
    return {
        "at": early.at,
        "reason": early.code,
        "label": early.label,
        "text": early.text,
        "running_min": float(early.running_min),
        "ordered_min": early.ordered_min,
    }


def _start_problems(session: InfusionSession) -> list[str]:
    if session.state not in ("checked_in", "pre_checks"):
        return []
    from .controlled_link import start_problems

    return start_problems(session)


def _session(session: InfusionSession) -> dict[str, Any]:
    session.refresh_from_db()
    overdue = selectors.reading_overdue(session)
    return {
        "controlled": _controlled(session),
        "id": session.pk,
        "patient_id": session.patient_id,
        "order_id": session.order_id,
        "location": session.location.code,
        "state": session.state,
        "dose_given_mg": float(dose.dose_given_mg(session)),
        "dose_ordered_mg": float(session.order.dose_mg),
        "early_stop": _early_stop(session),
        "next_reading_due": overdue.due_at if overdue else None,
        "reading_overdue": bool(overdue and overdue.overdue),
        "open_alerts": [_alert(a) for a in session.alerts.filter(acknowledged_at__isnull=True)],
        "discharge_problems": (
            services.discharge_problems(session) if session.state == "recovering" else []
        ),
    }


@router.get("/sessions/{session_id}", response={200: SessionOut, **ERRORS})
def session_detail(request: HttpRequest, session_id: str) -> Any:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    audit_record(actor=request.user, action=AuditAction.VIEW, patient=session.patient, obj=session)
    return _session(session)


@router.post("/sessions/{session_id}/vitals", response={201: VitalsOut, **ERRORS})
@idempotent
def session_vitals(request: HttpRequest, session_id: str, payload: VitalsIn) -> Any:
    # Only the session's own row (its SQL compiled once per role): the reading needs no more.
    session = selectors.session_get_for_user(user=request.user, session_id=session_id, related=())
    vital = services.vital_record(actor=request.user, session=session, **payload.model_dump())
    return Status(201, _vital(vital))


@router.post("/sessions/{session_id}/vitals/batch", response={201: VitalsBatchOut, **ERRORS})
@idempotent
def session_vitals_batch(request: HttpRequest, session_id: str, payload: VitalsBatchIn) -> Any:
    """Several readings in one request (up to 60, all stored or none): a monitor sending what it
    buffered, or posting every few readings to spare the network. Each reading is checked,
    alerted and audited exactly as a single POST to /vitals."""
    session = selectors.session_get_for_user(user=request.user, session_id=session_id, related=())
    vitals = services.vitals_record_batch(
        actor=request.user,
        session=session,
        readings=[reading.model_dump() for reading in payload.readings],
    )
    return Status(201, {"readings": [_vital(v) for v in vitals]})


@router.post("/sessions/{session_id}/check-in", response={200: SessionOut, **ERRORS})
def session_check_in(request: HttpRequest, session_id: str, payload: CheckInIn) -> Any:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    services.session_check_in(actor=request.user, session=session, **payload.model_dump())
    return _session(session)


@router.post("/sessions/{session_id}/pump", response={200: SessionOut, **ERRORS})
def session_pump(request: HttpRequest, session_id: str, payload: PumpIn) -> Any:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    services.pump_event_record(
        actor=request.user,
        session=session,
        action=payload.action,
        reason=payload.reason,
        stop_reason=payload.stop_reason,
    )
    return _session(session)


@router.post(
    "/sessions/{session_id}/alerts/{alert_id}/acknowledge", response={200: AlertOut, **ERRORS}
)
def session_alert_acknowledge(request: HttpRequest, session_id: str, alert_id: Id) -> Any:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    alert = session.alerts.filter(pk=alert_id).first()
    if alert is None:
        raise Http404("No such alert.")
    return _alert(services.alert_acknowledge(actor=request.user, alert=alert))


@router.post("/sessions/{session_id}/discharge", response={200: SessionOut, **ERRORS})
def session_discharge(request: HttpRequest, session_id: str, payload: DischargeIn) -> Any:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    services.session_discharge(actor=request.user, session=session, escort_name=payload.escort_name)
    return _session(session)


@router.post("/sessions/{session_id}/cancel", response={200: SessionOut, **ERRORS})
def session_cancel(request: HttpRequest, session_id: str, payload: CancelIn) -> Any:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    services.session_cancel(
        actor=request.user, session=session, no_show=payload.no_show, reason=payload.reason
    )
    return _session(session)


@router.post("/sessions/{session_id}/pre-checks", response={200: SessionOut, **ERRORS})
def session_pre_checks(request: HttpRequest, session_id: str, payload: PreChecksIn) -> Any:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    services.session_precheck_record(actor=request.user, session=session, **payload.model_dump())
    return _session(session)


@router.post("/sessions/{session_id}/bp-override", response={200: SessionOut, **ERRORS})
def session_bp_override(request: HttpRequest, session_id: str, payload: OverrideIn) -> Any:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    services.session_bp_override(actor=request.user, session=session, reason=payload.reason)
    return _session(session)


@router.post("/sessions/{session_id}/symptoms", response={201: SymptomOut, **ERRORS})
def session_symptom(request: HttpRequest, session_id: str, payload: SymptomIn) -> Any:
    """A warning sign; the answer carries the MON-BP-4 / MON-X-1 alerts it raised."""
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    symptom = services.symptom_record(actor=request.user, session=session, **payload.model_dump())
    return Status(
        201,
        {
            "id": symptom.pk,
            "session_id": session.pk,
            "code": symptom.code,
            "observed_at": symptom.observed_at,
            "alerts": [_alert(a) for a in symptom.alerts.all()],
        },
    )


@router.post("/sessions/{session_id}/side-effects", response={201: SideEffectOut, **ERRORS})
def session_side_effect(request: HttpRequest, session_id: str, payload: SideEffectIn) -> Any:
    """A side effect from the AE catalogue; a grade that stands for a warning sign answers with
    its alert (e.g. AE-5 headache grade 3 → MON-BP-4)."""
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    effect = services.side_effect_record(
        actor=request.user, session=session, **payload.model_dump()
    )
    return Status(
        201,
        {
            "id": effect.pk,
            "session_id": session.pk,
            "code": effect.code,
            "grade": effect.grade,
            "onset_at": effect.onset_at,
            "alerts": [_alert(a) for a in effect.alerts.all()],
        },
    )


@router.post("/sessions/{session_id}/discharge-scores", response={200: SessionOut, **ERRORS})
def session_discharge_scores(request: HttpRequest, session_id: str, payload: ScoresIn) -> Any:
    """The answer's `discharge_problems` says what still stands before discharge (DIS-3)."""
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    services.discharge_score_record(actor=request.user, session=session, **payload.model_dump())
    return _session(session)


@router.post("/sessions/{session_id}/administrations", response={201: SessionOut, **ERRORS})
def session_administration(request: HttpRequest, session_id: str, payload: AdministrationIn) -> Any:
    """CS-32: record the administration of one of this session's draws in the controlled-
    substance log; without `qty_ml` it is the pump's dose given in mL of the vial's strength.
    A draw of another session answers 404."""
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    draw = dose.session_draw_get(session=session, draw_id=payload.draw_id, user=request.user)
    controlled_services.administration_record(
        actor=request.user, draw=draw, qty_ml=payload.qty_ml, reason=payload.reason
    )
    return Status(201, _session(session))
