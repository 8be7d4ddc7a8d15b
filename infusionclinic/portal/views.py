"""The patient portal's pages (issue 18 section 1): parse, call one selector or service, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients.forms import apply_service_errors
from infusionclinic.scheduling.services import BookingConflict

from . import selectors, services
from .forms import CancelForm, RescheduleDayForm, RescheduleForm


@login_required
def home(request: HttpRequest) -> HttpResponse:
    home = selectors.portal_home(user=request.user)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=home.patient,
        obj=home.patient,
        detail={"page": "portal home", **home.read},
    )
    return render(request, "portal/home.html", {"home": home})


def _appointment_context(request: HttpRequest, appointment_id: int) -> dict[str, Any]:
    appointment = selectors.appointment_get_for_patient(
        user=request.user, appointment_id=appointment_id
    )
    return {
        "appointment": appointment,
        "starts": appointment.starts_at.astimezone(appointment.location.tzinfo),
        "policy": selectors.appointment_change_policy(appointment=appointment),
    }


@login_required
@require_POST
def appointment_confirm(request: HttpRequest, appointment_id: int) -> HttpResponse:
    context = _appointment_context(request, appointment_id)
    try:
        services.portal_appointment_confirm(actor=request.user, appointment=context["appointment"])
    except BookingConflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Thank you: your appointment is confirmed.")
    return redirect("portal:home")


@login_required
@require_http_methods(["GET", "POST"])
def appointment_cancel(request: HttpRequest, appointment_id: int) -> HttpResponse:
    context = _appointment_context(request, appointment_id)
    form = CancelForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.portal_appointment_cancel(
                    actor=request.user,
                    appointment=context["appointment"],
                    reason=form.cleaned_data["reason"],
                    fee_accepted=form.cleaned_data["fee_accepted"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            except BookingConflict as exc:
                form.add_error(None, str(exc))
                status = 409
            else:
                messages.success(request, "Your appointment is cancelled.")
                return redirect("portal:home")
        status = status if status != 200 else 400
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=context["appointment"].patient,
        obj=context["appointment"],
        detail={"page": "portal cancel"},
    )
    return render(request, "portal/cancel.html", {**context, "form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def appointment_reschedule(request: HttpRequest, appointment_id: int) -> HttpResponse:
    context = _appointment_context(request, appointment_id)
    appointment = context["appointment"]
    tz = appointment.location.tzinfo
    data = request.POST if request.method == "POST" else request.GET
    day_form = RescheduleDayForm(data if "date" in data else None, tz=tz)
    slots = (
        selectors.reschedule_slots(appointment=appointment, day=day_form.cleaned_data["date"])
        if day_form.is_valid()
        else []
    )
    form = RescheduleForm(request.POST or None, slots=slots)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.portal_appointment_reschedule(
                    actor=request.user,
                    appointment=appointment,
                    starts_at=form.cleaned_data["starts_at"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            except BookingConflict as exc:
                form.add_error(None, str(exc))
                status = 409
            else:
                messages.success(request, "Your appointment is moved.")
                return redirect("portal:home")
        status = status if status != 200 else 400
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=appointment.patient,
        obj=appointment,
        detail={"page": "portal reschedule"},
    )
    return render(
        request,
        "portal/reschedule.html",
        {**context, "day_form": day_form, "form": form, "slots": slots},
        status=status,
    )
