"""Staff calendar (day view per location, chairs as columns, free cells link to booking), one
appointment (move, cancel), booking a single visit or an infusion series from a patient's page,
and the private iCalendar feed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import location_get_for_user, require_perm
from infusionclinic.common.bounds import date_from_text, datetime_from_text
from infusionclinic.courses.selectors import (
    course_active_for_patient,
    course_induction_end,
    course_series_defaults,
)
from infusionclinic.outcomes.safety import safety_alert_gate, safety_alert_seen_record
from infusionclinic.patients.forms import apply_service_errors
from infusionclinic.patients.selectors import (
    locations_for_user,
    patient_get_for_user,
    patient_search,
    patients_visible_to,
)

from . import services
from .forms import CancelForm, MoveForm, PortalBookForm, SafetyForm, SeriesForm, VisitForm
from .ical import calendar_bytes
from .models import AppointmentKind, AppointmentStatus, CalendarFeed, Chair
from .selectors import (
    appointment_get_for_user,
    appointments_visible_to,
    availability,
    day_grid,
    feed_appointments,
)
from .series import SeriesError, series_propose


@login_required
def schedule_home(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.APPOINTMENT_BOOK)
    location = locations_for_user(user=request.user).first()
    if location is None:
        raise Http404("You work at no location.")
    today = timezone.localdate(timezone=location.tzinfo)
    return redirect("scheduling:day", location_code=location.code, day=today.isoformat())


@login_required
def day_view(request: HttpRequest, location_code: str, day: str) -> HttpResponse:
    """One day at one location: a column per chair (and one for appointments without a chair)."""
    require_perm(request, Perm.APPOINTMENT_BOOK)
    location = location_get_for_user(user=request.user, location=location_code)
    try:
        date = date_from_text(day)
    except ValueError as exc:
        raise Http404("Not a date.") from exc
    tz = location.tzinfo
    start = dt.datetime.combine(date, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    appointments = list(
        appointments_visible_to(user=request.user).filter(
            location=location,
            status=AppointmentStatus.BOOKED,
            starts_at__lt=end,
            ends_at__gt=start,
        )
    )
    chairs = list(location.chairs.filter(active=True))
    rows, outside = day_grid(location=location, day=date, chairs=chairs, appointments=appointments)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        detail={
            "calendar": location.code,
            "day": date.isoformat(),
            "patient_ids": sorted({a.patient_id for a in appointments}),
        },
    )
    return render(
        request,
        "scheduling/day.html",
        {
            "location": location,
            "date": date,
            "titles": [chair.name for chair in chairs] + ["No chair"],
            "rows": rows,
            "outside": outside,
            "previous_day": (date - dt.timedelta(days=1)).isoformat(),
            "next_day": (date + dt.timedelta(days=1)).isoformat(),
            "locations": locations_for_user(user=request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def appointment_detail(request: HttpRequest, appointment_id: int) -> HttpResponse:
    appointment = appointment_get_for_user(user=request.user, appointment_id=appointment_id)
    tz = appointment.location.tzinfo
    local_start = appointment.starts_at.astimezone(tz)
    is_patient = request.user.role == Role.PATIENT
    move_form = MoveForm(initial={"date": local_start.date(), "time": local_start.time()})
    cancel_form = CancelForm()
    if request.method == "POST":
        if not is_patient:
            require_perm(request, Perm.APPOINTMENT_BOOK)
        action = request.POST.get("action")
        try:
            if action == "move":
                move_form = MoveForm(request.POST)
                if move_form.is_valid():
                    starts_at = dt.datetime.combine(
                        move_form.cleaned_data["date"], move_form.cleaned_data["time"], tzinfo=tz
                    )
                    services.appointment_move(
                        actor=request.user, appointment=appointment, starts_at=starts_at
                    )
                    messages.success(request, "Appointment moved.")
                    return redirect("scheduling:appointment", appointment_id=appointment.pk)
            elif action == "cancel":
                cancel_form = CancelForm(request.POST)
                if is_patient:
                    cancel_form.fields.pop("no_show")
                if cancel_form.is_valid():
                    services.appointment_cancel(
                        actor=request.user, appointment=appointment, **cancel_form.cleaned_data
                    )
                    messages.success(request, "Appointment cancelled.")
                    return redirect("scheduling:appointment", appointment_id=appointment.pk)
        except services.BookingConflict as exc:
            (move_form if action == "move" else cancel_form).add_error(None, str(exc))
        except ValidationError as exc:
            apply_service_errors(move_form if action == "move" else cancel_form, exc)
    else:
        audit_record(
            actor=request.user,
            action=AuditAction.VIEW,
            patient=appointment.patient,
            obj=appointment,
        )
    if is_patient:
        cancel_form.fields.pop("no_show", None)
    return render(
        request,
        "scheduling/appointment.html",
        {
            "appointment": appointment,
            "local_start": local_start,
            "local_end": appointment.ends_at.astimezone(tz),
            "move_form": move_form,
            "cancel_form": cancel_form,
            "can_book": is_patient or request.user.has_role_perm(Perm.APPOINTMENT_BOOK),
            "billing": _billing(request, appointment),  # issue 21 point 7
        },
    )


def _billing(request: HttpRequest, appointment: Any) -> Any:
    """The completed visit's invoice or "Create invoice" (billing's selector; staff only)."""
    if request.user.role == Role.PATIENT:
        return None
    from infusionclinic.billing.selectors import appointment_billing

    return appointment_billing(user=request.user, appointment=appointment)


@login_required
@require_http_methods(["GET", "POST"])
def series_book(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Propose an induction series (PROT-10 defaults) and accept it in one step."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.APPOINTMENT_BOOK)
    locations = locations_for_user(user=request.user)
    # Course-driven booking (issue 8): the patient's active course sets what is proposed — the
    # induction series of its protocol version (PROT-10) or the next maintenance infusion
    # (PROT-30) — and the booked infusions are linked to it.
    course = course_active_for_patient(patient=patient)
    initial = course_series_defaults(course=course) if course else None
    form = SeriesForm(request.POST or None, locations=locations, initial=initial)
    # Issue 21 point 9: an open SCALE-4 alert is shown, and must be seen, before booking.
    safety = safety_alert_gate(request=request, patient=patient, step="series-book")
    safety_error = ""
    proposal: list[dt.datetime] = []
    tz_name = "UTC"
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        location = data["location"]
        tz_name = location.timezone
        try:
            proposal = series_propose(
                first_date=data["first_date"],
                count=data["count"],
                interval_days=data["interval_days"],
                preferred_time=data["preferred_time"],
                preferred_weekday=data["preferred_weekday"],
                **services.location_calendar(location=location),  # type: ignore[arg-type]
            )
        except SeriesError as exc:
            form.add_error(None, str(exc))
        if proposal and request.POST.get("action") == "accept":
            accepted = request.POST.getlist("starts")
            if accepted != [p.isoformat() for p in proposal]:
                form.add_error(None, "The proposal changed; check it and accept again.")
            elif safety.blocks:
                safety_error = safety.error()
            else:
                try:
                    services.appointment_series_book(
                        actor=request.user,
                        patient=patient,
                        location=location,
                        starts=proposal,
                        course=course,
                    )
                except services.BookingConflict as exc:
                    form.add_error(None, str(exc))
                else:
                    safety_alert_seen_record(actor=request.user, gate=safety)
                    messages.success(request, f"{len(proposal)} infusions booked.")
                    return redirect("patients:chart", patient_id=patient.pk)
    else:
        audit_record(actor=request.user, action=AuditAction.VIEW, patient=patient, obj=patient)
    return render(
        request,
        "scheduling/series.html",
        {
            "patient": patient,
            "form": form,
            "proposal": proposal,
            "tz_name": tz_name,
            "course": course,
            "induction_end": course_induction_end(course=course) if course else None,
            "safety": safety,
            "safety_error": safety_error,
        },
    )


def _slot_query(request: HttpRequest) -> dict[str, str]:
    """The slot a calendar cell offers (location code, chair id, local date and time), passed
    on as a query string; the booking form validates every part."""
    return {
        key: request.GET[key][:32]
        for key in ("location", "chair", "date", "time", "kind")
        if request.GET.get(key)
    }


def _slot_day(slot: dict[str, str]) -> dt.date | None:
    try:
        return date_from_text(slot.get("date", ""))
    except ValueError:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def visit_patient_pick(request: HttpRequest, location_code: str) -> HttpResponse:
    """Issue 21 point 2: a free calendar cell opens this page, which finds the patient (the
    search POSTs, so names stay out of URLs, as on the patient list) and hands the slot on to
    the patient's booking form."""
    require_perm(request, Perm.APPOINTMENT_BOOK)
    location = location_get_for_user(user=request.user, location=location_code)
    slot = {**_slot_query(request)}
    slot["location"] = location.code
    chair = None
    if slot.get("chair", "").isdigit():
        chair = Chair.objects.filter(location=location, pk=int(slot["chair"])).first()
    query = request.POST.get("q", "").strip()[:100] if request.method == "POST" else ""
    patients = []
    if request.method == "POST":
        patients = patient_search(user=request.user, query=query)
        audit_record(
            actor=request.user,
            action=AuditAction.SEARCH,
            detail={"q": query, "patient_ids": [p.pk for p in patients], "step": "visit-book"},
        )
    return render(
        request,
        "scheduling/visit_patient.html",
        {
            "location": location,
            "chair": chair,
            "slot": slot,
            "slot_query": urlencode(slot),
            "day": _slot_day(slot),
            "q": query,
            "searched": request.method == "POST",
            "patients": patients,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def visit_book(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Issue 21 point 2: book one visit (consultation, follow-up or a single infusion) from the
    chart or a free calendar cell, through `appointment_book` (opening hours, chair and patient
    overlap, shifts and nurse ratio, PROT-12 spacing, intake's booking gate for infusions). An
    open SCALE-4 alert must be seen first, as for a series (issue 21 point 9)."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.APPOINTMENT_BOOK)
    locations = locations_for_user(user=request.user)
    course = course_active_for_patient(patient=patient)
    slot = _slot_query(request)
    # A cell in a chair column offers an infusion; the "no chair" column and the chart a
    # consultation. The location defaults to the patient's home location if it is the user's.
    has_chair = slot.get("chair", "").isdigit()
    initial: dict[str, object] = {
        "kind": slot.get("kind")
        or (AppointmentKind.INFUSION if has_chair else AppointmentKind.CONSULTATION),
        "chair": int(slot["chair"]) if has_chair else None,
        "date": slot.get("date"),
        "time": slot.get("time"),
    }
    location = locations.filter(code=slot.get("location", "")).first() or (
        locations.filter(pk=patient.home_location_id).first()
    )
    if location is not None:
        initial["location"] = location
    form = VisitForm(request.POST or None, locations=locations, initial=initial)
    safety = safety_alert_gate(request=request, patient=patient, step="visit-book")
    safety_error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        place = data["location"]
        starts_at = dt.datetime.combine(data["date"], data["time"], tzinfo=place.tzinfo)
        if safety.blocks:
            safety_error = safety.error()
        else:
            try:
                appointment = services.appointment_book(
                    actor=request.user,
                    patient=patient,
                    location=place,
                    kind=data["kind"],
                    starts_at=starts_at,
                    chair=data["chair"],
                    course=course if data["kind"] == AppointmentKind.INFUSION else None,
                )
            except services.BookingConflict as exc:
                form.add_error(None, str(exc))
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                safety_alert_seen_record(actor=request.user, gate=safety)
                messages.success(request, f"{appointment.get_kind_display()} booked.")
                return redirect("scheduling:appointment", appointment_id=appointment.pk)
    elif request.method == "GET":
        audit_record(actor=request.user, action=AuditAction.VIEW, patient=patient, obj=patient)
    back = reverse("patients:chart", kwargs={"patient_id": patient.pk})
    day = _slot_day(slot)
    if location is not None and day is not None:
        back = reverse("scheduling:day", kwargs={"location_code": location.code, "day": day})
    return render(
        request,
        "scheduling/visit_book.html",
        {
            "patient": patient,
            "form": form,
            "course": course,
            "safety": safety,
            "safety_error": safety_error,
            "back": back,
        },
        status=400 if form.is_bound and (form.errors or safety_error) else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def feed_manage(request: HttpRequest) -> HttpResponse:
    """Create, replace or revoke the signed-in user's private calendar feed."""
    if request.method == "POST":
        CalendarFeed.objects.filter(user=request.user).delete()
        if request.POST.get("action") == "create":
            CalendarFeed.objects.create(user=request.user)
            messages.success(request, "New feed address created; the old one no longer works.")
        else:
            messages.success(request, "Calendar feed revoked.")
        audit_record(
            actor=request.user,
            action=AuditAction.GRANT
            if request.POST.get("action") == "create"
            else AuditAction.REVOKE,
            detail={"calendar_feed": True},
        )
        return redirect("scheduling:feed_manage")
    feed = CalendarFeed.objects.filter(user=request.user).first()
    url = request.build_absolute_uri(f"/calendar-feed/{feed.token}.ics") if feed is not None else ""
    return render(request, "scheduling/feed.html", {"feed_url": url})


def feed(request: HttpRequest, token: str) -> HttpResponse:
    """The private feed. The token is the only credential (calendar apps cannot log in); an
    unknown or revoked token answers 404."""
    subscription = CalendarFeed.objects.select_related("user").filter(token=token).first()
    if subscription is None or not subscription.user.is_active:
        raise Http404
    user = subscription.user
    appointments = feed_appointments(user=user)
    audit_record(
        actor=user,
        action=AuditAction.EXPORT,
        detail={"calendar_feed": True, "appointment_ids": [a.pk for a in appointments]},
    )
    body = calendar_bytes(appointments, for_staff=user.is_clinic_staff)
    return HttpResponse(body, content_type="text/calendar; charset=utf-8")


@login_required
@require_http_methods(["GET", "POST"])
def my_appointments(request: HttpRequest) -> HttpResponse:
    """Patient self-service: own appointments; book a consultation or follow-up in a free slot
    (GET ?type=&date= lists them; POST books one). Infusions are booked by the clinic."""
    if request.user.role != Role.PATIENT:
        raise PermissionDenied
    patient = patients_visible_to(user=request.user).select_related("home_location").first()
    if patient is None:
        raise Http404
    location = patient.home_location
    form = PortalBookForm(request.GET or None)
    slots: list[object] = []
    if request.method == "POST":
        form = PortalBookForm(request.POST)
        if form.is_valid():
            try:
                starts_at = datetime_from_text(request.POST.get("starts_at", ""))
                services.appointment_book(
                    actor=request.user,
                    patient=patient,
                    location=location,
                    kind=form.cleaned_data["type"],
                    starts_at=starts_at,
                )
            except ValueError:
                form.add_error(None, "Choose one of the listed times.")
            except services.BookingConflict as exc:
                form.add_error(None, str(exc))
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, "Appointment booked.")
                return redirect("scheduling:my_appointments")
    elif form.is_valid():
        slots = availability(
            location=location, day=form.cleaned_data["date"], kind=form.cleaned_data["type"]
        )
    appointments = list(appointments_visible_to(user=request.user).order_by("starts_at"))
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        detail={"appointment_ids": [a.pk for a in appointments]},
    )
    return render(
        request,
        "scheduling/my_appointments.html",
        {
            "appointments": appointments,
            "form": form,
            "slots": slots,
            "location": location,
            "kinds": [AppointmentKind.CONSULTATION, AppointmentKind.FOLLOW_UP],
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def safety_confirm(request: HttpRequest, appointment_id: int) -> HttpResponse:
    """Linked from the reminder: the patient confirms fasting, escort and no driving."""
    appointment = appointment_get_for_user(user=request.user, appointment_id=appointment_id)
    if request.user.role != Role.PATIENT:
        raise PermissionDenied
    form = SafetyForm(
        request.POST or None,
        initial={"escort_name": appointment.escort_name, "escort_phone": appointment.escort_phone},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.appointment_confirm_safety(
                actor=request.user, appointment=appointment, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        except services.BookingConflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Thank you: your preparation is confirmed.")
            return redirect("scheduling:appointment", appointment_id=appointment.pk)
    return render(
        request,
        "scheduling/safety_confirm.html",
        {
            "appointment": appointment,
            "form": form,
            "npo_solids_h": settings.SCHEDULING_NPO_SOLIDS_H,
            "npo_clear_h": settings.SCHEDULING_NPO_CLEAR_H,
        },
    )


@login_required
def week_view(request: HttpRequest, location_code: str, day: str) -> HttpResponse:
    """Seven days from `day`: a row per day, a column per chair."""
    require_perm(request, Perm.APPOINTMENT_BOOK)
    location = location_get_for_user(user=request.user, location=location_code)
    try:
        first = date_from_text(day)
    except ValueError as exc:
        raise Http404("Not a date.") from exc
    tz = location.tzinfo
    start = dt.datetime.combine(first, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(first + dt.timedelta(days=7), dt.time(0), tzinfo=tz)
    appointments = list(
        appointments_visible_to(user=request.user).filter(
            location=location, status=AppointmentStatus.BOOKED, starts_at__lt=end, ends_at__gt=start
        )
    )
    chairs = list(location.chairs.filter(active=True))
    chair_ids: list[int | None] = [c.pk for c in chairs] + [None]
    rows = []
    for offset in range(7):
        date = first + dt.timedelta(days=offset)
        on_day = [a for a in appointments if a.starts_at.astimezone(tz).date() == date]
        rows.append(
            {
                "date": date,
                "cells": [[a for a in on_day if a.chair_id == cid] for cid in chair_ids],
            }
        )
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        detail={
            "calendar": location.code,
            "week_from": first.isoformat(),
            "patient_ids": sorted({a.patient_id for a in appointments}),
        },
    )
    return render(
        request,
        "scheduling/week.html",
        {
            "location": location,
            "first": first,
            "titles": [c.name for c in chairs] + ["No chair"],
            "rows": rows,
            "previous_week": (first - dt.timedelta(days=7)).isoformat(),
            "next_week": (first + dt.timedelta(days=7)).isoformat(),
        },
    )
