"""Pages: a patient's orders with the titration history and the order form; an order with its
versions and the signing form."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_perm
from infusionclinic.courses.models import Phase
from infusionclinic.courses.selectors import courses_for_patient, protocols_current
from infusionclinic.infusions.selectors import pre_infusion_readings, side_effects_for_patient
from infusionclinic.outcomes.safety import (
    SafetyAlertGate,
    safety_alert_gate,
    safety_alert_seen_record,
)
from infusionclinic.outcomes.selectors import scored_assessments
from infusionclinic.patients.forms import apply_service_errors
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patient_get_for_user

from . import services
from .calculator import OVERRIDABLE_RULES
from .forms import OrderForm, ReviseForm, SignForm
from .models import DosingOrder
from .selectors import order_get_for_user, order_versions, titration_history

DOSE_FIELDS = (
    "weight_basis",
    "sex_for_dosing",
    "dose_mg_per_kg",
    "dose_mg_per_kg_per_h",
    "bolus_mg_per_kg",
    "duration_min",
    "concentration_mg_per_ml",
)


def _initial(patient: Patient, courses: list[Any]) -> dict[str, Any]:
    """Start from the open course's protocol defaults (DOSE-1/DOSE-P2), else the clinic's."""
    open_courses = [c for c in courses if c.is_open]
    if open_courses:
        protocol = open_courses[0].protocol
        course = open_courses[0]
    else:
        current = {p.indication: p for p in protocols_current(clinic=patient.home_location.clinic)}
        protocol, course = current.get("depression"), None
    sex = patient.sex_at_birth if patient.sex_at_birth in ("female", "male") else ""
    if protocol is None:
        return {"sex_for_dosing": sex}
    return {
        "course": course,
        "indication": protocol.indication,
        "sex_for_dosing": sex,
        "dose_mg_per_kg": protocol.default_dose_mg_per_kg,
        "dose_mg_per_kg_per_h": protocol.default_dose_mg_per_kg_per_h,
        "duration_min": protocol.default_duration_min,
        "concentration_mg_per_ml": protocol.default_concentration_mg_per_ml,
    }


@login_required
def patient_orders(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The order screen: titration history, orders, and (prescribers) a new order."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.ORDER_VIEW_SIGNED)
    can_write = request.user.has_role_perm(Perm.ORDER_WRITE)
    courses = courses_for_patient(patient=patient)
    form = None
    status = 200
    if can_write:
        form = OrderForm(
            request.POST or None,
            courses=[c for c in courses if c.is_open],
            initial=_initial(patient, courses),
        )
    if request.method == "POST":
        if form is None:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                order = services.dosing_order_create(
                    actor=request.user,
                    patient=patient,
                    course=data["course"],
                    indication=data["indication"],
                    scope=data["scope"],
                    **{name: data[name] for name in DOSE_FIELDS},
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, "Draft order written: check the numbers and sign.")
                return redirect("dosing:order", order_id=order.pk)
        status = 400
    history = titration_history(user=request.user, patient=patient)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        detail={"page": "orders", "orders": [o.pk for o in history.orders]},
    )
    return render(
        request,
        "dosing/patient_orders.html",
        {
            "patient": patient,
            "history": history,
            # The scores titration rests on (outcomes): latest first, all instruments.
            "scores": list(reversed(scored_assessments(patient=patient)))[:12],
            "side_effects": side_effects_for_patient(patient=patient, limit=12),
            "pre_infusion_bp": pre_infusion_readings(patient=patient),
            "courses": courses,
            "form": form,
            "phases": Phase,
        },
        status=status,
    )


def _render_order(
    request: HttpRequest,
    order: DosingOrder,
    sign_form: SignForm | None = None,
    status: int = 200,
    safety: SafetyAlertGate | None = None,
) -> HttpResponse:
    can_write = request.user.has_role_perm(Perm.ORDER_WRITE)
    sign_form = sign_form or SignForm()
    if not order.warnings:
        del sign_form.fields["warning_reason"]  # a reason is asked for warnings only
    if not any(
        f["severity"] == "hard_stop" and f["rule_id"] in OVERRIDABLE_RULES for f in order.findings
    ):
        del sign_form.fields["override_reason"]  # only an overridable hard stop (LIM-4) asks
    return render(
        request,
        "dosing/order_detail.html",
        {
            "order": order,
            "patient": order.patient,
            "versions": order_versions(user=request.user, order=order),
            "can_sign": can_write and not order.is_signed and not order.is_superseded,
            "can_revise": can_write and not order.is_superseded,
            "sign_form": sign_form,
            "safety": safety
            or safety_alert_gate(request=request, patient=order.patient, step="order-sign"),
            "safety_error": safety.error() if safety is not None else "",
        },
        status=status,
    )


@login_required
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = order_get_for_user(user=request.user, order_id=order_id)
    audit_record(actor=request.user, action=AuditAction.VIEW, patient=order.patient, obj=order)
    return _render_order(request, order)


@login_required
@require_POST
def order_sign(request: HttpRequest, order_id: int) -> HttpResponse:
    order = order_get_for_user(user=request.user, order_id=order_id)
    form = SignForm(request.POST)
    # Issue 21 point 9: an open SCALE-4 alert is shown, and must be seen, before signing.
    safety = safety_alert_gate(request=request, patient=order.patient, step="order-sign")
    if form.is_valid() and safety.blocks:
        return _render_order(request, order, sign_form=form, status=400, safety=safety)
    if form.is_valid():
        try:
            services.dosing_order_sign(actor=request.user, order=order, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            safety_alert_seen_record(actor=request.user, gate=safety)
            messages.success(request, "Order signed.")
            return redirect("dosing:order", order_id=order.pk)
    return _render_order(request, order, sign_form=form, status=400)


@login_required
def order_revise(request: HttpRequest, order_id: int) -> HttpResponse:
    order = order_get_for_user(user=request.user, order_id=order_id)
    require_perm(request, Perm.ORDER_WRITE)
    form = ReviseForm(
        request.POST or None, initial={name: getattr(order, name) for name in DOSE_FIELDS}
    )
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                new = services.dosing_order_revise(
                    actor=request.user,
                    order=order,
                    change_reason=data["change_reason"],
                    changes={name: data[name] for name in DOSE_FIELDS},
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Version {new.version} written as a draft.")
                return redirect("dosing:order", order_id=new.pk)
        return render(
            request, "dosing/order_revise.html", {"form": form, "order": order}, status=400
        )
    return render(request, "dosing/order_revise.html", {"form": form, "order": order})
