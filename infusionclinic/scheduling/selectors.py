"""Reads of appointments and availability, scoped by the user: staff see their locations'
appointments, a patient their own. A miss answers 404 and writes a `denied` audit event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import STAFF_ROLES
from infusionclinic.common.access import denied
from infusionclinic.common.ids import id_from_path
from infusionclinic.patients.selectors import patients_visible_to

from .models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Chair,
    Holiday,
    OpeningHours,
)
from .services import appointment_length, booking_problems, free_chair


def appointments_visible_to(*, user: User) -> QuerySet[Appointment]:
    qs = Appointment.objects.filter(patient__in=patients_visible_to(user=user))
    if user.is_authenticated and user.role in STAFF_ROLES:
        # Staff see appointments at their own locations only (emergency access to a chart does
        # not open another location's calendar).
        qs = qs.filter(location__in=user.locations.all())
    return qs.select_related("patient", "location", "chair")


def appointment_get_for_user(*, user: User, appointment_id: int | str) -> Appointment:
    text = str(appointment_id)
    pk = id_from_path(text)
    appointment = (
        appointments_visible_to(user=user).filter(pk=pk).first() if pk is not None else None
    )
    if appointment is None:
        raise denied(user, "scheduling.Appointment", text, "No such appointment.")
    return appointment


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime
    chair: Chair | None


def availability(*, location: Location, day: date, kind: str) -> list[Slot]:
    """Start times on `day` (local date at the location) at which an appointment of `kind` could
    be booked now, on the SCHEDULING_SLOT_MINUTES grid, with the chair it would get."""
    if Holiday.objects.filter(location=location, date=day).exists():
        return []
    hours = OpeningHours.objects.filter(location=location, weekday=day.weekday()).first()
    if hours is None:
        return []
    tz = location.tzinfo
    length = appointment_length(kind)
    step = timedelta(minutes=settings.SCHEDULING_SLOT_MINUTES)
    # UTC arithmetic: correct on daylight-saving days too.
    moment = datetime.combine(day, hours.opens_at, tzinfo=tz).astimezone(UTC)
    closes = datetime.combine(day, hours.closes_at, tzinfo=tz).astimezone(UTC)
    slots = []
    while moment + length <= closes:
        ends = moment + length
        chair = None
        if kind == AppointmentKind.INFUSION:
            chair = free_chair(location=location, starts_at=moment, ends_at=ends)
        if (kind != AppointmentKind.INFUSION or chair is not None) and not booking_problems(
            location=location, kind=kind, starts_at=moment, ends_at=ends, chair=chair, patient=None
        ):
            slots.append(Slot(starts_at=moment, ends_at=ends, chair=chair))
        moment += step
    return slots


def feed_appointments(
    *, user: User, days_back: int = 30, days_ahead: int = 365
) -> list[Appointment]:
    """What a user's private feed shows: booked appointments they may see, in a window."""
    now = timezone.now()
    return list(
        appointments_visible_to(user=user).filter(
            status=AppointmentStatus.BOOKED,
            starts_at__gte=now - timedelta(days=days_back),
            starts_at__lte=now + timedelta(days=days_ahead),
        )
    )


@dataclass(frozen=True)
class GridCell:
    """One chair (or the "no chair" column, `chair=None`) in one row of the day calendar:
    the appointments that start in the row, whether an earlier one still runs, and whether the
    cell is free to book (issue 21 point 2: a free cell links to the booking form)."""

    chair: Chair | None
    appointments: list[Appointment]
    continues: bool
    free: bool


@dataclass(frozen=True)
class GridRow:
    starts_at: datetime
    cells: list[GridCell]


def day_grid(
    *,
    location: Location,
    day: date,
    chairs: list[Chair],
    appointments: list[Appointment],
) -> tuple[list[GridRow], list[Appointment]]:
    """The day calendar as rows on the SCHEDULING_SLOT_MINUTES grid within the location's
    opening hours, a cell per chair and one for appointments without a chair. Returns the rows
    and the appointments that start outside them (a closed day, or hours changed since
    booking), which the page lists apart. "Free" only offers the slot: the booking form runs
    every check (`booking_problems`)."""
    hours = OpeningHours.objects.filter(location=location, weekday=day.weekday()).first()
    closed = hours is None or Holiday.objects.filter(location=location, date=day).exists()
    rows: list[GridRow] = []
    placed: set[int] = set()
    if not closed and hours is not None:
        tz = location.tzinfo
        step = timedelta(minutes=settings.SCHEDULING_SLOT_MINUTES)
        now = timezone.now()
        # UTC arithmetic: correct on daylight-saving days too.
        moment = datetime.combine(day, hours.opens_at, tzinfo=tz).astimezone(UTC)
        closes = datetime.combine(day, hours.closes_at, tzinfo=tz).astimezone(UTC)
        columns: list[Chair | None] = [*chairs, None]
        while moment < closes:
            row_end = moment + step
            cells = []
            for chair in columns:
                chair_id = chair.pk if chair is not None else None
                mine = [a for a in appointments if a.chair_id == chair_id]
                starting = [a for a in mine if moment <= a.starts_at < row_end]
                continues = any(a.starts_at < moment < a.ends_at for a in mine)
                placed.update(a.pk for a in starting)
                # Without a chair (consultations, follow-ups) only the patient can clash, which
                # the form checks; a chair is free when nothing on it overlaps the row.
                free = moment > now and (chair is None or not (starting or continues))
                cells.append(
                    GridCell(chair=chair, appointments=starting, continues=continues, free=free)
                )
            rows.append(GridRow(starts_at=moment, cells=cells))
            moment = row_end
    outside = [a for a in appointments if a.pk not in placed]
    return rows, outside
