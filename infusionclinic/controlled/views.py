"""Pages of the controlled-substance log: the ledger of one location with running balances,
receive, draw, administer, witnessed waste, daily reconciliation and discrepancies, exports.
Nurses and prescribers record; admins view and export (roles.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.dosing.selectors import order_get_for_user
from infusionclinic.patients.forms import apply_service_errors

from . import exports, selectors, services
from .forms import (
    CloseForm,
    CountForm,
    DoseOutForm,
    DrawForm,
    InvestigateForm,
    ReceiveForm,
    WasteForm,
)


def _location(request: HttpRequest, location_code: str, perm: Perm):
    location = selectors.cs_location_get_for_user(user=request.user, location_code=location_code)
    if not request.user.has_role_perm(perm):
        raise PermissionDenied
    return location


def _back(location):
    return redirect("controlled:ledger", location_code=location.code)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.has_role_perm(Perm.CS_VIEW):
        raise PermissionDenied
    location = request.user.locations.order_by("name").first()
    if location is None:
        raise Http404("You work at no location.")
    return _back(location)


@login_required
def ledger(request: HttpRequest, location_code: str) -> HttpResponse:
    """R1: every lot with its balance, and the latest entries with the balance after each."""
    location = _location(request, location_code, Perm.CS_VIEW)
    lots = [(lot, services.balance_ml(lot)) for lot in selectors.lots_at(location=location)]
    entries = list(selectors.entries_at(location=location)[:200])
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        obj=location,
        detail={"view": "cs_ledger", "entries": len(entries)},
    )
    return render(
        request,
        "controlled/ledger.html",
        {
            "location": location,
            "lots": lots,
            "entries": entries,
            "discrepancies": selectors.open_discrepancies_at(location=location),
            "can_record": request.user.has_role_perm(Perm.CS_RECORD),
            "can_export": request.user.has_role_perm(Perm.CS_EXPORT),
        },
    )


def _form_page(request, location, form, title, submit, intro=""):
    return render(
        request,
        "controlled/form.html",
        {"location": location, "form": form, "title": title, "submit": submit, "intro": intro},
    )


@login_required
def receive(request: HttpRequest, location_code: str) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_RECORD)
    form = ReceiveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            product = services.product_get_or_create(
                ndc=d["ndc"],
                name=d["name"],
                labeler=d["labeler"],
                strength_mg_per_ml=d["strength_mg_per_ml"],
                container_ml=d["container_ml"],
            )
            services.receipt_record(
                actor=request.user,
                location=location,
                product=product,
                lot_number=d["lot_number"],
                expiry=d["expiry"],
                containers=d["containers"],
                supplier=d["supplier"],
                supplier_dea=d["supplier_dea"],
                invoice_number=d["invoice_number"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Receipt recorded.")
            return _back(location)
    return _form_page(request, location, form, "Receive vials", "Record receipt", "CS-30, CS-8")


@login_required
def draw(request: HttpRequest, location_code: str) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_RECORD)
    orders = selectors.signed_orders_at(user=request.user, location=location)[:100]
    lots = selectors.lots_at(location=location)
    form = DrawForm(request.POST or None, orders=orders, lots=lots)
    if request.method == "POST" and form.is_valid():
        order = order_get_for_user(user=request.user, order_id=form.cleaned_data["order"])
        lot = selectors.lot_get_for_user(
            user=request.user, location=location, lot_id=form.cleaned_data["lot"]
        )
        try:
            services.draw_record(
                actor=request.user, lot=lot, order=order, qty_ml=form.cleaned_data["qty_ml"]
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Draw recorded.")
            return _back(location)
    return _form_page(request, location, form, "Draw for a dose", "Record draw", "CS-31, CS-42")


@login_required
def administer(request: HttpRequest, location_code: str) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_RECORD)
    form = DoseOutForm(request.POST or None, draws=selectors.open_draws_at(location=location))
    if request.method == "POST" and form.is_valid():
        entry = selectors.draw_get_for_user(
            user=request.user, location=location, entry_id=form.cleaned_data["draw"]
        )
        try:
            services.administration_record(
                actor=request.user, draw=entry, qty_ml=form.cleaned_data["qty_ml"]
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Administration recorded.")
            return _back(location)
    return _form_page(request, location, form, "Record administration", "Record", "CS-32")


@login_required
def waste(request: HttpRequest, location_code: str) -> HttpResponse:
    """CS-33, CS-44: the witness types their e-mail and password or TOTP code on this screen."""
    location = _location(request, location_code, Perm.CS_RECORD)
    form = WasteForm(request.POST or None, draws=selectors.open_draws_at(location=location))
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        entry = selectors.draw_get_for_user(
            user=request.user, location=location, entry_id=d["draw"]
        )
        try:
            services.waste_record(
                actor=request.user,
                draw=entry,
                qty_ml=d["qty_ml"],
                reason=d["reason"],
                witness_email=d["witness_email"],
                witness_secret=d["witness_secret"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Witnessed waste recorded.")
            return _back(location)
    return _form_page(
        request,
        location,
        form,
        "Witnessed waste",
        "Record waste",
        "CS-33, CS-44: a second licensed user witnesses and signs with their password or code.",
    )


@login_required
def reconcile(request: HttpRequest, location_code: str) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_RECORD)
    form = CountForm(request.POST or None, lots=selectors.lots_at(location=location))
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        lot = selectors.lot_get_for_user(user=request.user, location=location, lot_id=d["lot"])
        try:
            count = services.count_record(
                actor=request.user,
                lot=lot,
                counted_ml=d["counted_ml"],
                method=d["method"],
                note=d["note"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            if hasattr(count, "discrepancy"):
                messages.warning(request, "The count differs from the ledger: discrepancy opened.")
            else:
                messages.success(request, "Count recorded; it matches the ledger.")
            return _back(location)
    return _form_page(request, location, form, "Daily count", "Record count", "CS-39, R2")


@login_required
def discrepancy(request: HttpRequest, location_code: str, discrepancy_id: int) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_VIEW)
    found = selectors.discrepancy_get_for_user(
        user=request.user, location=location, discrepancy_id=discrepancy_id
    )
    investigate = InvestigateForm(prefix="inv")
    close = CloseForm(prefix="close")
    if request.method == "POST":
        if not request.user.has_role_perm(Perm.CS_RECORD):
            raise PermissionDenied
        action = request.POST.get("action")
        form = (
            InvestigateForm(request.POST, prefix="inv")
            if action == "investigate"
            else CloseForm(request.POST, prefix="close")
        )
        if form.is_valid():
            try:
                if action == "investigate":
                    services.discrepancy_investigate(
                        actor=request.user, discrepancy=found, notes=form.cleaned_data["notes"]
                    )
                else:
                    services.discrepancy_close(
                        actor=request.user,
                        discrepancy=found,
                        outcome=form.cleaned_data["outcome"],
                        reason=form.cleaned_data["reason"],
                    )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return redirect(
                    "controlled:discrepancy", location_code=location.code, discrepancy_id=found.pk
                )
        if action == "investigate":
            investigate = form
        else:
            close = form
    audit_record(actor=request.user, action=AuditAction.VIEW, obj=found)
    return render(
        request,
        "controlled/discrepancy.html",
        {
            "location": location,
            "d": found,
            "investigate": investigate,
            "close": close,
            "can_record": request.user.has_role_perm(Perm.CS_RECORD),
        },
    )


def _csv(body: str, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def inventory_export(request: HttpRequest, location_code: str) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_EXPORT)
    body = exports.inventory_csv(
        actor=request.user, location=location, opening_or_close=request.GET.get("at", "close")
    )
    return _csv(body, f"cs-inventory-{location.code}.csv")


@login_required
def loss_export(request: HttpRequest, location_code: str) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_EXPORT)
    return _csv(
        exports.loss_pack_csv(actor=request.user, location=location), f"cs-loss-{location.code}.csv"
    )
