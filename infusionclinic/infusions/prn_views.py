"""Pages for PRN medicines (issue 21 point 13): a patient's standing orders (prescribers sign
and revoke) and the session page's "PRN medicine given" action."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_perm
from infusionclinic.courses.selectors import courses_for_patient
from infusionclinic.patients.forms import apply_service_errors
from infusionclinic.patients.selectors import patient_get_for_user

from . import prn
from .models import InfusionSession
from .prn_forms import RevokeForm, StandingOrderForm
from .prn_models import StandingOrder


def _open_courses(patient: Any) -> list[Any]:
    return [c for c in courses_for_patient(patient=patient) if c.is_open]


@login_required
def standing_orders(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The patient's PRN standing orders; a prescriber signs a new one here."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.ORDER_VIEW_SIGNED)
    can_sign = request.user.has_role_perm(Perm.ORDER_WRITE)
    form = StandingOrderForm(request.POST or None, courses=_open_courses(patient))
    status = 200
    if request.method == "POST":
        if not can_sign:
            raise PermissionDenied
        if form.is_valid():
            try:
                order = prn.standing_order_sign(
                    actor=request.user, patient=patient, **form.service_args()
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Standing order #{order.pk} signed.")
                return redirect("infusions:standing_orders", patient_id=patient.pk)
        status = 400
    orders = list(
        StandingOrder.objects.filter(patient=patient)
        .select_related("signed_by", "revoked_by", "course")
        .prefetch_related("lines")
    )
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        detail={"page": "standing orders", "standing_orders": [o.pk for o in orders]},
    )
    names = {m.id: m.name for m in prn.prn_medicines().values()}
    return render(
        request,
        "infusions/standing_orders.html",
        {
            "patient": patient,
            "orders": [
                (o, [(names.get(ln.medicine, ln.medicine), ln) for ln in o.lines.all()])
                for o in orders
            ],
            "form": form if can_sign else None,
            "medicines": list(prn.prn_medicines().values()),
            "revoke_form": RevokeForm(),
        },
        status=status,
    )


@login_required
@require_POST
def standing_order_revoke(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.ORDER_WRITE)
    form = RevokeForm(request.POST)
    if form.is_valid():
        order = StandingOrder.objects.filter(
            patient=patient, pk=form.cleaned_data["standing_order_id"]
        ).first()
        if order is None:
            raise Http404
        try:
            prn.standing_order_revoke(
                actor=request.user, standing_order=order, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, f"Standing order #{order.pk} revoked.")
    else:
        messages.error(request, "Give the reason for revoking.")
    return redirect("infusions:standing_orders", patient_id=patient.pk)


def prn_administer_from_form(
    request: HttpRequest, session: InfusionSession, data: dict[str, Any]
) -> Any:
    """The session page's action: the route from the standing order's line; a typed time is
    the location's local time."""
    line = next(
        (
            ln
            for ln in prn.standing_order_lines_for_session(session)
            if ln.medicine == data["medicine"]
        ),
        None,
    )
    # The session page parses typed times in the location's zone (views.session_action).
    given_at = data.get("given_at")
    return prn.prn_administer(
        actor=request.user,
        session=session,
        medicine=data["medicine"],
        dose=data["dose"],
        route=line.route if line is not None else "",
        reason=data["reason"],
        given_at=given_at,
    )
