"""Scheduling API: availability, booking (409 with the reason on a conflict, 422 on bad input),
one appointment, cancel, series proposal and acceptance."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.api.fields import EdgeDate, EdgeDateTime, Id
from infusionclinic.api.schemas import ErrorOut
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import location_get_for_user
from infusionclinic.outcomes.safety import safety_alert_gate, safety_alert_seen_record
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patient_get_for_user

from . import services
from .models import Appointment, Chair
from .selectors import appointment_get_for_user, availability
from .series import SeriesError, series_propose

router = Router(tags=["scheduling"])
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
Kind = Literal["consultation", "infusion", "follow_up"]


class AvailabilityQuery(Schema):
    location: str = Field(max_length=32, description="Location code")
    date: EdgeDate = Field(description="Local date at the location")
    type: Kind


class SlotOut(Schema):
    starts_at: datetime
    ends_at: datetime
    chair: str | None


class AppointmentIn(Schema):
    model_config = ConfigDict(extra="forbid")
    patient_id: Id
    location: str = Field(description="Location code")
    type: Kind
    starts_at: EdgeDateTime = Field(description="With a time zone, e.g. 2026-03-02T10:00:00-05:00")
    chair_id: Id | None = None


class AppointmentOut(Schema):
    id: int
    patient_id: int
    location: str
    type: str
    status: str
    starts_at: datetime
    ends_at: datetime
    chair: str | None
    series: str | None
    late_cancellation: bool
    status_reason: str
    # Issue 21 point 9: on a booking by staff, the open SCALE-4 safety alert and where a
    # prescriber acknowledges it (the API cannot show a checkbox: it warns).
    safety_warning: str | None = None


class CancelIn(Schema):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)
    no_show: bool = False


class SeriesProposeIn(Schema):
    model_config = ConfigDict(extra="forbid")
    location: str
    first_date: EdgeDate
    preferred_time: time
    preferred_weekday: int | None = Field(None, ge=0, le=6, description="0 = Monday")
    phase: Literal["induction", "maintenance"] = Field(
        "induction",
        description="Sets the defaults: induction PROT-10 (3, every 7 days), maintenance PROT-30 "
        "(1, every 28 days after first_date)",
    )
    count: int | None = Field(None, ge=1, le=52, description="Default from the phase")
    interval_days: int | None = Field(None, ge=1, le=365, description="Default from the phase")


class SeriesBookIn(Schema):
    model_config = ConfigDict(extra="forbid")
    patient_id: Id
    location: str
    starts: list[EdgeDateTime] = Field(min_length=1, max_length=52)


def _out(appointment: Appointment) -> dict[str, Any]:
    return {
        "id": appointment.pk,
        "patient_id": appointment.patient_id,
        "location": appointment.location.code,
        "type": appointment.kind,
        "status": appointment.status,
        "starts_at": appointment.starts_at,
        "ends_at": appointment.ends_at,
        "chair": appointment.chair.name if appointment.chair else None,
        "series": str(appointment.series) if appointment.series else None,
        "late_cancellation": appointment.late_cancellation,
        "status_reason": appointment.status_reason,
    }


def _safety_warning(request: HttpRequest, patient: Patient) -> str | None:
    """The open SCALE-4 alert as a staff booking's warning (issue 21 point 9), audited as
    shown; None for the patient's own booking and when nothing is open."""
    if request.user.role == Role.PATIENT:
        return None
    gate = safety_alert_gate(request=request, patient=patient, step="api-book")
    if not gate.open:
        return None
    safety_alert_seen_record(actor=request.user, gate=gate)
    where = f" at {gate.link}" if gate.can_view else ""
    return (
        f"SCALE-4: {len(gate.alerts)} open safety alert(s) for this patient; a prescriber "
        f"acknowledges it{where} before the infusion."
    )


def _require_booking(request: HttpRequest) -> None:
    if not request.user.has_role_perm(Perm.APPOINTMENT_BOOK):
        raise PermissionDenied("Your role may not book appointments.")


@router.get("/availability", response={200: list[SlotOut], **ERRORS})
def get_availability(request: HttpRequest, filters: Query[AvailabilityQuery]) -> Any:
    """Bookable start times on a local date at a location you work at."""
    _require_booking(request)
    place = location_get_for_user(user=request.user, location=filters.location)
    return [
        {"starts_at": s.starts_at, "ends_at": s.ends_at, "chair": s.chair.name if s.chair else None}
        for s in availability(location=place, day=filters.date, kind=filters.type)
    ]


@router.post("/appointments", response={201: AppointmentOut, 409: ErrorOut, **ERRORS})
def create_appointment(request: HttpRequest, payload: AppointmentIn) -> Any:
    _require_booking(request)
    patient = patient_get_for_user(user=request.user, patient_id=payload.patient_id)
    place = location_get_for_user(user=request.user, location=payload.location)
    chair = None
    if payload.chair_id is not None:
        chair = Chair.objects.filter(location=place, pk=payload.chair_id).first()
        if chair is None:
            raise ValidationError({"chair_id": ["No such chair at this location."]})
    appointment = services.appointment_book(
        actor=request.user,
        patient=patient,
        location=place,
        kind=payload.type,
        starts_at=payload.starts_at,
        chair=chair,
    )
    return Status(201, {**_out(appointment), "safety_warning": _safety_warning(request, patient)})


@router.get("/appointments/{appointment_id}", response={200: AppointmentOut, **ERRORS})
def get_appointment(request: HttpRequest, appointment_id: str) -> Any:
    appointment = appointment_get_for_user(user=request.user, appointment_id=appointment_id)
    audit_record(
        actor=request.user, action=AuditAction.VIEW, patient=appointment.patient, obj=appointment
    )
    return _out(appointment)


@router.post(
    "/appointments/{appointment_id}/cancel",
    response={200: AppointmentOut, 409: ErrorOut, **ERRORS},
)
def cancel_appointment(request: HttpRequest, appointment_id: str, payload: CancelIn) -> Any:
    appointment = appointment_get_for_user(user=request.user, appointment_id=appointment_id)
    appointment = services.appointment_cancel(
        actor=request.user, appointment=appointment, reason=payload.reason, no_show=payload.no_show
    )
    return _out(appointment)


@router.post("/appointment-series/proposal", response={200: list[datetime], **ERRORS})
def propose_series(request: HttpRequest, payload: SeriesProposeIn) -> Any:
    """Start times for an induction series (defaults PROT-10: count and interval from settings)
    at the preferred local time, skipping holidays and closed days. Nothing is booked."""
    _require_booking(request)
    place = location_get_for_user(user=request.user, location=payload.location)
    if payload.phase == "maintenance":
        # PROT-30: maintenance every 4 weeks by default; propose the next one.
        default_count, default_interval = 1, settings.SCHEDULING_MAINTENANCE_INTERVAL_DAYS
    else:  # PROT-10
        default_count = settings.SCHEDULING_INDUCTION_COUNT
        default_interval = settings.SCHEDULING_INDUCTION_INTERVAL_DAYS
    try:
        return series_propose(
            first_date=payload.first_date,
            count=payload.count or default_count,
            interval_days=payload.interval_days or default_interval,
            preferred_time=payload.preferred_time,
            preferred_weekday=payload.preferred_weekday,
            **services.location_calendar(location=place),
        )
    except SeriesError as exc:
        raise ValidationError({"first_date": [str(exc)]}) from exc


@router.post("/appointment-series", response={201: list[AppointmentOut], 409: ErrorOut, **ERRORS})
def book_series(request: HttpRequest, payload: SeriesBookIn) -> Any:
    """Accept a proposal in one step: every infusion is booked, or none."""
    _require_booking(request)
    patient = patient_get_for_user(user=request.user, patient_id=payload.patient_id)
    place = location_get_for_user(user=request.user, location=payload.location)
    booked = services.appointment_series_book(
        actor=request.user, patient=patient, location=place, starts=payload.starts
    )
    warning = _safety_warning(request, patient)
    return Status(201, [{**_out(a), "safety_warning": warning} for a in booked])
