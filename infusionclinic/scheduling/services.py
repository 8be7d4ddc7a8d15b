"""Booking, moving and cancelling appointments.

Every booking runs the same checks (`booking_problems`) inside one transaction that first locks
the location's row, so two desks booking at the same location take turns and the checks that the
database cannot express (opening hours, a prescriber on shift, the nurse-to-chair ratio) hold
under concurrent requests. On PostgreSQL exclusion constraints refuse chair and patient overlaps
as a last line (migration 0002); on SQLite the transaction takes the write lock at BEGIN
(transaction_mode IMMEDIATE), which serialises bookings just the same."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_at_location
from infusionclinic.common.mail import email_enqueue
from infusionclinic.courses.models import TreatmentCourse
from infusionclinic.intake.selectors import patient_may_be_booked
from infusionclinic.patients.models import Patient
from infusionclinic.patients.services import ConflictError

from .models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Chair,
    Holiday,
    OpeningHours,
    StaffShift,
)
from .reminders import reminders_create, reminders_reset


class BookingConflict(ConflictError):
    """The slot cannot be booked; the message says why (answers 409 in the API)."""


def appointment_length(kind: str) -> timedelta:
    if kind == AppointmentKind.INFUSION:
        # Preparation + infusion (DOSE-4, 40 min) + observation after the end (MON-T5, 60 min).
        return timedelta(
            minutes=settings.SCHEDULING_INFUSION_PREP_MINUTES
            + settings.SCHEDULING_INFUSION_MINUTES
            + settings.SCHEDULING_RECOVERY_MINUTES
        )
    if kind == AppointmentKind.CONSULTATION:
        return timedelta(minutes=settings.SCHEDULING_CONSULTATION_MINUTES)
    if kind == AppointmentKind.FOLLOW_UP:
        return timedelta(minutes=settings.SCHEDULING_FOLLOW_UP_MINUTES)
    raise ValidationError({"kind": ["Unknown appointment type."]})


def _require_booking_rights(actor: User, location: Location, patient: Patient) -> None:
    if actor.role == Role.PATIENT:
        # Self-service: a patient acts on their own appointments only.
        if patient.user_id != actor.pk or not actor.is_active:
            raise PermissionDenied("You may only manage your own appointments.")
        return
    if not actor.has_role_perm(Perm.APPOINTMENT_BOOK):
        raise PermissionDenied("Your role may not book appointments.")
    require_at_location(actor, location, "You do not work at this location.")


def _booked() -> dict[str, str]:
    return {"status": AppointmentStatus.BOOKED}


def _overlapping(starts_at: datetime, ends_at: datetime, exclude_id: int | None):  # type: ignore[no-untyped-def]
    qs = Appointment.objects.filter(**_booked(), starts_at__lt=ends_at, ends_at__gt=starts_at)
    # Issue 19: a slot held for a deposit that was not paid in time is free.
    qs = qs.exclude(deposit__status="pending", deposit__hold_until__lte=timezone.now())
    return qs.exclude(pk=exclude_id) if exclude_id else qs


def _on_shift(location: Location, role: str, starts_at: datetime, ends_at: datetime) -> int:
    return (
        StaffShift.objects.filter(
            location=location,
            user__role=role,
            user__is_active=True,
            starts_at__lte=starts_at,
            ends_at__gte=ends_at,
        )
        .values("user")
        .distinct()
        .count()
    )


def opening_problem(*, location: Location, starts_at: datetime, ends_at: datetime) -> str | None:
    """Why the location is closed for this interval, or None. Hours are local wall-clock times."""
    tz = location.tzinfo
    local_start, local_end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    day = local_start.date()
    if local_end.date() != day:
        return "Appointments must start and end on the same day."
    holiday = Holiday.objects.filter(location=location, date=day).first()
    if holiday is not None:
        return f"The location is closed on {day} ({holiday.name})."
    hours = OpeningHours.objects.filter(location=location, weekday=day.weekday()).first()
    if hours is None:
        return f"The location is closed on {day:%A}s."
    if local_start.time() < hours.opens_at or local_end.time() > hours.closes_at:
        return (
            f"Outside opening hours ({hours.opens_at:%H:%M}-{hours.closes_at:%H:%M}, "
            f"{location.timezone})."
        )
    return None


def booking_problems(
    *,
    location: Location,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    chair: Chair | None,
    patient: Patient | None,
    exclude_id: int | None = None,
) -> list[str]:
    """Every reason this slot cannot be booked (empty: it can). `patient=None` checks the
    location's side only (availability)."""
    problems: list[str] = []
    closed = opening_problem(location=location, starts_at=starts_at, ends_at=ends_at)
    if closed:
        problems.append(closed)
    overlapping = _overlapping(starts_at, ends_at, exclude_id)
    if chair is not None:
        if chair.location_id != location.pk or not chair.active:
            problems.append("This chair is not in use at this location.")
        elif overlapping.filter(chair=chair).exists():
            problems.append(f"{chair.name} is already booked at that time.")
    if patient is not None and overlapping.filter(patient=patient).exists():
        problems.append("The patient already has an appointment at that time.")
    if kind == AppointmentKind.INFUSION:
        if chair is None:
            problems.append("An infusion needs a chair.")
        if not _on_shift(location, Role.PRESCRIBER, starts_at, ends_at):
            problems.append("No prescriber is on shift for the whole infusion.")
        nurses = _on_shift(location, Role.NURSE, starts_at, ends_at)
        # Conservative: every infusion overlapping any part of this one counts as concurrent.
        concurrent = overlapping.filter(location=location, kind=AppointmentKind.INFUSION).count()
        if concurrent + 1 > nurses * settings.SCHEDULING_CHAIRS_PER_NURSE:
            problems.append(
                f"Not enough nurses on shift ({nurses}) for {concurrent + 1} infusions at once "
                f"(at most {settings.SCHEDULING_CHAIRS_PER_NURSE} chairs per nurse)."
            )
        if patient is not None:
            # PROT-12: minimum spacing between two infusions of one patient.
            spacing = timedelta(hours=settings.SCHEDULING_MIN_SPACING_HOURS)
            near = Appointment.objects.filter(
                **_booked(),
                patient=patient,
                kind=AppointmentKind.INFUSION,
                starts_at__gt=starts_at - spacing,
                starts_at__lt=starts_at + spacing,
            )
            if exclude_id:
                near = near.exclude(pk=exclude_id)
            if near.exists():
                problems.append(
                    f"Infusions must be at least {settings.SCHEDULING_MIN_SPACING_HOURS} h apart "
                    "(PROT-12)."
                )
    return problems


def _intake_refusals(patient: Patient) -> list[str]:
    """Reasons intake gives for not booking an infusion for this patient yet (issue 4: eligible,
    relative findings reviewed, intake submitted, consent current)."""
    allowed, reasons = patient_may_be_booked(patient=patient)
    return [] if allowed else (list(reasons) or ["Intake does not allow booking yet."])


def free_chair(
    *, location: Location, starts_at: datetime, ends_at: datetime, exclude_id: int | None = None
) -> Chair | None:
    busy = _overlapping(starts_at, ends_at, exclude_id).filter(chair__isnull=False)
    return (
        Chair.objects.filter(location=location, active=True)
        .exclude(pk__in=busy.values("chair_id"))
        .order_by("name")
        .first()
    )


def _patient_cut_off(actor: User, appointment: Appointment, new_start: datetime | None) -> None:
    """Patients change appointments online only up to SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS
    before the start (of the booked time and, when moving, of the new time)."""
    if actor.role != Role.PATIENT:
        return
    hours = settings.SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS
    limit = timezone.now() + timedelta(hours=hours)
    if appointment.starts_at < limit or (new_start is not None and new_start < limit):
        raise BookingConflict(
            f"Online changes are possible up to {hours} h before the appointment; "
            "please call the clinic."
        )


def _notify_front_desk(actor: User, appointment: Appointment, what: str) -> None:
    """Tell the location's front desk when a patient changes something through the portal. No
    names in mail: the link opens the appointment for staff who may see it."""
    if actor.role != Role.PATIENT:
        return
    to = list(
        User.objects.filter(
            role=Role.FRONT_DESK, is_active=True, locations=appointment.location
        ).values_list("email", flat=True)
    )
    if to:
        local = appointment.starts_at.astimezone(appointment.location.tzinfo)
        email_enqueue(
            subject=f"Portal: appointment {what}",
            body=(
                f"A patient {what} appointment #{appointment.pk} "
                f"({appointment.get_kind_display()}, {local:%Y-%m-%d %H:%M}) through the portal.\n"
                f"{settings.SCHEDULING_SITE_URL.rstrip('/')}/appointments/{appointment.pk}/"
            ),
            to=to,
        )


def _lock_location(location: Location) -> None:
    # Serialises bookings per location on PostgreSQL; on SQLite the IMMEDIATE transaction
    # already holds the database's write lock.
    Location.objects.select_for_update().filter(pk=location.pk).exists()


def _create(
    *,
    actor: User,
    patient: Patient,
    location: Location,
    kind: str,
    starts_at: datetime,
    chair: Chair | None,
    series: uuid.UUID | None,
    course: TreatmentCourse | None = None,
    now: datetime | None = None,
) -> Appointment:
    if timezone.is_naive(starts_at):
        raise ValidationError({"starts_at": ["Give a time zone (e.g. ...Z or +02:00)."]})
    if starts_at <= (now or timezone.now()):
        raise ValidationError({"starts_at": ["The appointment must be in the future."]})
    ends_at = starts_at + appointment_length(kind)
    from infusionclinic.billing.deposits import deposit_hold, deposits_release_expired

    deposits_release_expired()  # issue 19: unpaid expired holds are free
    if kind == AppointmentKind.INFUSION:
        refusals = _intake_refusals(patient)
        if refusals:
            raise BookingConflict("; ".join(refusals))
        if chair is None:
            chair = free_chair(location=location, starts_at=starts_at, ends_at=ends_at)
            if chair is None:
                raise BookingConflict("No chair is free at that time.")
    problems = booking_problems(
        location=location,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        chair=chair,
        patient=patient,
    )
    if problems:
        raise BookingConflict(" ".join(problems))
    try:
        with transaction.atomic():
            appointment = Appointment.objects.create(
                patient=patient,
                location=location,
                chair=chair,
                kind=kind,
                starts_at=starts_at,
                ends_at=ends_at,
                series=series,
                course=course,
                booked_by=actor,
            )
    except IntegrityError as exc:  # PostgreSQL exclusion constraint: someone was faster
        raise BookingConflict("The chair or the patient was booked at that time.") from exc
    reminders_create(appointment=appointment)
    deposit_hold(actor=actor, appointment=appointment)  # issue 19: holds the slot if one is due
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=appointment,
        detail={
            "kind": kind,
            "starts_at": starts_at.isoformat(),
            "series": str(series or ""),
            "course": course.pk if course else None,
        },
    )
    return appointment


@transaction.atomic
def appointment_book(
    *,
    actor: User,
    patient: Patient,
    location: Location,
    kind: str,
    starts_at: datetime,
    chair: Chair | None = None,
    course: TreatmentCourse | None = None,
    now: datetime | None = None,
) -> Appointment:
    """Book one appointment; `patient` comes from `patient_get_for_user`. An infusion without a
    chair gets the first free one; with `course` (issue 21 point 2: a single infusion booked by
    staff) it is linked to that treatment course. Raises BookingConflict with every reason it
    cannot be booked."""
    if course is not None and course.patient_id != patient.pk:
        raise ValidationError({"course": ["That course belongs to another patient."]})
    _require_booking_rights(actor, location, patient)
    if kind not in AppointmentKind.values:
        raise ValidationError({"kind": ["Unknown appointment type."]})
    if actor.role == Role.PATIENT and kind == AppointmentKind.INFUSION:
        # Infusions follow the prescriber's course plan; patients reschedule them, the clinic
        # books them.
        raise PermissionDenied("Infusions are booked by the clinic; you can move booked ones.")
    _lock_location(location)
    appointment = _create(
        actor=actor,
        patient=patient,
        location=location,
        kind=kind,
        starts_at=starts_at,
        chair=chair,
        series=None,
        course=course,
        now=now,
    )
    _notify_front_desk(actor, appointment, "booked")
    return appointment


@transaction.atomic
def appointment_series_book(
    *,
    actor: User,
    patient: Patient,
    location: Location,
    starts: Sequence[datetime],
    course: TreatmentCourse | None = None,
    now: datetime | None = None,
) -> list[Appointment]:
    """Accept a proposed infusion series in one step: all appointments or none. With a treatment
    course, each appointment is linked to it."""
    if course is not None and course.patient_id != patient.pk:
        raise ValidationError({"course": ["That course belongs to another patient."]})
    _require_booking_rights(actor, location, patient)
    if actor.role == Role.PATIENT:
        raise PermissionDenied("Infusion series are booked by the clinic.")
    if not starts:
        raise ValidationError({"starts": ["The series is empty."]})
    _lock_location(location)
    series = uuid.uuid4()
    booked = []
    for number, starts_at in enumerate(sorted(starts), start=1):
        try:
            booked.append(
                _create(
                    actor=actor,
                    patient=patient,
                    location=location,
                    kind=AppointmentKind.INFUSION,
                    starts_at=starts_at,
                    chair=None,
                    series=series,
                    course=course,
                    now=now,
                )
            )
        except BookingConflict as exc:
            local = starts_at.astimezone(location.tzinfo)
            raise BookingConflict(
                f"Infusion {number} ({local:%Y-%m-%d %H:%M}): {exc} Nothing was booked."
            ) from exc
    return booked


@transaction.atomic
def appointment_move(
    *, actor: User, appointment: Appointment, starts_at: datetime, chair: Chair | None = None
) -> Appointment:
    """Move a booked appointment, with the same checks as booking (including PROT-12 spacing
    against the rest of the patient's series)."""
    _require_booking_rights(actor, appointment.location, appointment.patient)
    _lock_location(appointment.location)
    from infusionclinic.billing.deposits import deposits_release_expired

    deposits_release_expired()  # issue 19: unpaid expired holds are free
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if appointment.status != AppointmentStatus.BOOKED:
        raise BookingConflict("Only a booked appointment can be moved.")
    _patient_cut_off(actor, appointment, starts_at)
    if timezone.is_naive(starts_at) or starts_at <= timezone.now():
        raise ValidationError({"starts_at": ["Give a future time with a time zone."]})
    ends_at = starts_at + appointment_length(appointment.kind)
    if appointment.kind == AppointmentKind.INFUSION and chair is None:
        chair = appointment.chair
        if _overlapping(starts_at, ends_at, appointment.pk).filter(chair=chair).exists():
            chair = free_chair(
                location=appointment.location,
                starts_at=starts_at,
                ends_at=ends_at,
                exclude_id=appointment.pk,
            )
            if chair is None:
                raise BookingConflict("No chair is free at that time.")
    problems = booking_problems(
        location=appointment.location,
        kind=appointment.kind,
        starts_at=starts_at,
        ends_at=ends_at,
        chair=chair,
        patient=appointment.patient,
        exclude_id=appointment.pk,
    )
    if problems:
        raise BookingConflict(" ".join(problems))
    before = appointment.starts_at
    appointment.starts_at, appointment.ends_at, appointment.chair = starts_at, ends_at, chair
    try:
        with transaction.atomic():
            appointment.save(update_fields=["starts_at", "ends_at", "chair", "updated_at"])
    except IntegrityError as exc:
        raise BookingConflict("The chair or the patient was booked at that time.") from exc
    reminders_reset(appointment=appointment)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=appointment.patient,
        obj=appointment,
        detail={"from": before.isoformat(), "to": starts_at.isoformat()},
    )
    _notify_front_desk(actor, appointment, "moved")
    return appointment


@transaction.atomic
def appointment_cancel(
    *, actor: User, appointment: Appointment, reason: str, no_show: bool = False
) -> Appointment:
    """Cancel (or record a no-show) with a reason. A cancellation within
    SCHEDULING_LATE_CANCEL_HOURS of the start is flagged late."""
    _require_booking_rights(actor, appointment.location, appointment.patient)
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if actor.role == Role.PATIENT and no_show:
        raise PermissionDenied("Only the clinic records no-shows.")
    _patient_cut_off(actor, appointment, None)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ["Give a reason."]})
    if appointment.status != AppointmentStatus.BOOKED:
        raise BookingConflict("This appointment is no longer booked.")
    now = timezone.now()
    if no_show and now < appointment.starts_at:
        raise ValidationError({"no_show": ["A no-show can only be recorded after the start."]})
    appointment.status = AppointmentStatus.NO_SHOW if no_show else AppointmentStatus.CANCELLED
    appointment.status_reason = reason[:500]
    appointment.status_changed_at = now
    appointment.late_cancellation = not no_show and appointment.starts_at - now < timedelta(
        hours=settings.SCHEDULING_LATE_CANCEL_HOURS
    )
    appointment.save(
        update_fields=[
            "status",
            "status_reason",
            "status_changed_at",
            "late_cancellation",
            "updated_at",
        ]
    )
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=appointment.patient,
        obj=appointment,
        detail={"status": appointment.status, "late": appointment.late_cancellation},
    )
    _notify_front_desk(actor, appointment, "cancelled")
    return appointment


def location_calendar(*, location: Location) -> dict[str, object]:
    """The location's calendar as `series_propose` takes it (tz, opening hours, holidays,
    infusion length, PROT-12 minimum spacing)."""
    today = timezone.localdate(timezone=location.tzinfo)
    return {
        "tz": location.tzinfo,
        "opening_hours": {
            h.weekday: (h.opens_at, h.closes_at)
            for h in OpeningHours.objects.filter(location=location)
        },
        "holidays": set(
            Holiday.objects.filter(location=location, date__gte=today).values_list(
                "date", flat=True
            )
        ),
        "length": appointment_length(AppointmentKind.INFUSION),
        "min_spacing": timedelta(hours=settings.SCHEDULING_MIN_SPACING_HOURS),
    }


@transaction.atomic
def appointment_confirm_safety(
    *,
    actor: User,
    appointment: Appointment,
    fasting: bool,
    no_driving: bool,
    escort_name: str,
    escort_phone: str,
) -> Appointment:
    """The patient confirms, before an infusion, that they will fast (PRE-4), have a named
    escort with a phone number (PRE-5) and not drive until the next day (PRE-6)."""
    if actor.role != Role.PATIENT or appointment.patient.user_id != actor.pk:
        raise PermissionDenied("Only the patient confirms their own preparation.")
    errors: dict[str, list[str]] = {}
    if not fasting:
        errors["fasting"] = ["Please confirm you will follow the fasting instructions."]
    if not no_driving:
        errors["no_driving"] = ["Please confirm you will not drive until the next day."]
    if not escort_name.strip():
        errors["escort_name"] = ["Name the adult who will take you home."]
    if not escort_phone.strip():
        errors["escort_phone"] = ["Give your escort's phone number."]
    if errors:
        raise ValidationError(errors)
    if appointment.status != AppointmentStatus.BOOKED:
        raise BookingConflict("This appointment is no longer booked.")
    appointment.safety_confirmed_at = timezone.now()
    appointment.escort_name = escort_name.strip()[:200]
    appointment.escort_phone = escort_phone.strip()[:32]
    appointment.save(
        update_fields=["safety_confirmed_at", "escort_name", "escort_phone", "updated_at"]
    )
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=appointment.patient,
        obj=appointment,
        detail={"safety_confirmed": True},
    )
    return appointment


@transaction.atomic
def appointment_confirm(*, actor: User, appointment: Appointment) -> Appointment:
    """The patient says in the portal that they will come (issue 18 section 1). Only their own
    booked appointment that has not started; confirming twice keeps the first time."""
    if actor.role != Role.PATIENT or appointment.patient.user_id != actor.pk:
        raise PermissionDenied("Only the patient confirms their own appointment.")
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if appointment.status != AppointmentStatus.BOOKED:
        raise BookingConflict("This appointment is no longer booked.")
    if appointment.starts_at <= timezone.now():
        raise BookingConflict("This appointment has already started.")
    if appointment.confirmed_at is not None:
        return appointment
    appointment.confirmed_at = timezone.now()
    appointment.save(update_fields=["confirmed_at", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=appointment.patient,
        obj=appointment,
        detail={"confirmed": True},
    )
    return appointment


@transaction.atomic
def appointment_complete(
    *,
    actor: User,
    appointment: Appointment,
    session_id: int | None = None,
    at: datetime | None = None,
) -> Appointment:
    """The visit took place (issue 21 point 7): a booked appointment becomes completed, which is
    what billing invoices. The infusion session's discharge calls this in its own transaction
    (`session_id` names it in the audit event); completing twice changes nothing."""
    if actor.role == Role.PATIENT or not (
        actor.has_role_perm(Perm.APPOINTMENT_BOOK) or actor.has_role_perm(Perm.SESSION_RUN)
    ):
        raise PermissionDenied("Only the clinic's staff complete an appointment.")
    require_at_location(actor, appointment.location_id, "You do not work at this location.")
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if appointment.status == AppointmentStatus.COMPLETED:
        return appointment
    if appointment.status != AppointmentStatus.BOOKED:
        raise BookingConflict(
            f"This appointment is {appointment.get_status_display().lower()}, not booked."
        )
    previous = appointment.status
    appointment.status = AppointmentStatus.COMPLETED
    now = timezone.now()
    appointment.status_changed_at = min(at, now) if at is not None else now
    appointment.save(update_fields=["status", "status_changed_at", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=appointment.patient,
        obj=appointment,
        detail={
            "status": appointment.status,
            "from": previous,
            **({"session": session_id} if session_id is not None else {}),
        },
    )
    return appointment
