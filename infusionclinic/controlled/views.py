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
from infusionclinic.common.access import location_get_for_user, require_perm
from infusionclinic.dosing.selectors import order_get_for_user
from infusionclinic.infusions import dose
from infusionclinic.patients.forms import apply_service_errors

from . import compliance, conf, exports, selectors, services
from .forms import (
    AdministrationForm,
    CloseForm,
    CountForm,
    DestructionForm,
    DrawForm,
    Form106Form,
    InvestigateForm,
    LossForm,
    NoticeSentForm,
    ReceiveForm,
    ReconciliationSignForm,
    RecountForm,
    RegistrationForm,
    RemainderWasteForm,
    ReturnForm,
    WasteForm,
)
from .reference import receipt_warnings


def _location(request: HttpRequest, location_code: str, perm: Perm):
    location = location_get_for_user(user=request.user, location=location_code)
    require_perm(request, perm)
    return location


def _back(location):
    return redirect("controlled:ledger", location_code=location.code)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.CS_VIEW)
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
    reports = compliance.loss_reports_at(location=location)
    return render(
        request,
        "controlled/ledger.html",
        {
            "location": location,
            "lots": lots,
            "entries": entries,
            "registration": compliance.registration_status(location=location),
            "loss_reports": [(r, compliance.loss_deadlines(r)) for r in reports[:20]],
            "destructions": selectors.destructions_at(location=location)[:20],
            "reconciliation": compliance.reconciliation_state(location=location),
            "discrepancies": selectors.open_discrepancies_at(location=location),
            # Issue 22 point 10: the log's administrations set against the pump's dose given.
            "dose_disagreements": dose.ledger_disagreements(entries=entries),
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


def _record(request, location, form, done: str, service, /, **kwargs) -> HttpResponse | None:
    """Call `service(actor=request.user, **kwargs)`; on ValidationError put its messages on `form`
    and answer None (the caller re-renders the form); else flash `done` and answer the redirect
    to the ledger."""
    try:
        service(actor=request.user, **kwargs)
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return None
    messages.success(request, done)
    return _back(location)


def _lot_action(
    request: HttpRequest,
    location_code: str,
    *,
    form_class,  # noqa: ANN001
    service,  # noqa: ANN001
    done: str,
    page: tuple[str, str, str],
    fields: tuple[str, ...],
) -> HttpResponse:
    """A witnessed action on one lot of the location (breakage, transfer, remainder wastage):
    the form, `service(actor=, lot=, **those fields)` through `_record`, and the page again with
    its errors. `page` is (title, submit label, intro)."""
    location = _location(request, location_code, Perm.CS_RECORD)
    form = form_class(request.POST or None, lots=selectors.lots_at(location=location))
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        lot = selectors.lot_get_for_user(user=request.user, location=location, lot_id=d["lot"])
        response = _record(
            request, location, form, done, service, lot=lot, **{f: d[f] for f in fields}
        )
        if response is not None:
            return response
    return _form_page(request, location, form, *page)


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
                storage=d["storage"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Receipt recorded.")
            # CODE-RX4, CODE-RX7: a strength or NDC unlike the reference data is flagged.
            for warning in receipt_warnings(
                ndc=d["ndc"],
                strength_mg_per_ml=d["strength_mg_per_ml"],
                container_ml=d["container_ml"],
            ):
                messages.warning(request, warning)
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
        response = _record(
            request,
            location,
            form,
            "Draw recorded.",
            services.draw_record,
            lot=lot,
            order=order,
            qty_ml=form.cleaned_data["qty_ml"],
        )
        if response is not None:
            return response
    return _form_page(request, location, form, "Draw for a dose", "Record draw", "CS-31, CS-42")


@login_required
def administer(request: HttpRequest, location_code: str) -> HttpResponse:
    """CS-32: `?draw=<id>` (the session page's link) or the only open draw preselects the dose,
    and a draw made for an infusion session defaults to the pump's dose given in mL."""
    location = _location(request, location_code, Perm.CS_RECORD)
    draws = selectors.open_draws_at(location=location)
    wanted = request.POST.get("draw") or request.GET.get("draw")
    if not wanted and len(draws) == 1:
        wanted = str(draws[0].pk)
    chosen = next((d for d in draws if str(d.pk) == str(wanted)), None) if wanted else None
    suggestion = dose.administration_suggestion(chosen) if chosen is not None else None
    initial = {"draw": chosen.pk} if chosen is not None else {}
    if suggestion is not None:
        initial["qty_ml"] = suggestion.qty_ml
    form = AdministrationForm(
        request.POST or None, draws=draws, initial=initial, suggestion=suggestion
    )
    if request.method == "POST" and form.is_valid():
        entry = selectors.draw_get_for_user(
            user=request.user, location=location, entry_id=form.cleaned_data["draw"]
        )
        response = _record(
            request,
            location,
            form,
            "Administration recorded.",
            services.administration_record,
            draw=entry,
            qty_ml=form.cleaned_data["qty_ml"],
            reason=form.cleaned_data["reason"],
        )
        if response is not None:
            return response
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
        response = _record(
            request,
            location,
            form,
            "Witnessed waste recorded.",
            services.waste_record,
            draw=entry,
            qty_ml=d["qty_ml"],
            reason=d["reason"],
            witness_email=d["witness_email"],
            witness_secret=d["witness_secret"],
        )
        if response is not None:
            return response
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
    form_classes = {
        "recount": (RecountForm, "rec"),
        "investigate": (InvestigateForm, "inv"),
        "close": (CloseForm, "close"),
    }
    forms_by_action = {action: cls(prefix=prefix) for action, (cls, prefix) in form_classes.items()}
    if request.method == "POST":
        require_perm(request, Perm.CS_RECORD)
        action = request.POST.get("action")
        if action not in form_classes:
            action = "close"
        form_class, prefix = form_classes[action]
        form = form_class(request.POST, prefix=prefix)
        if form.is_valid():
            try:
                if action == "recount":
                    # §7 step 2: the second counter re-authenticates on this screen (CS-44).
                    services.discrepancy_recount(
                        actor=request.user, discrepancy=found, **form.cleaned_data
                    )
                elif action == "investigate":
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
        forms_by_action[action] = form
    audit_record(actor=request.user, action=AuditAction.VIEW, obj=found)
    return render(
        request,
        "controlled/discrepancy.html",
        {
            "location": location,
            "d": found,
            "recount": forms_by_action["recount"],
            "investigate": forms_by_action["investigate"],
            "close": forms_by_action["close"],
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
        actor=request.user,
        location=location,
        opening_or_close=request.GET.get("at", "close"),
        inventory_type=request.GET.get("type", "biennial"),
    )
    return _csv(body, f"cs-inventory-{location.code}.csv")


@login_required
def loss_export(request: HttpRequest, location_code: str) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_EXPORT)
    return _csv(
        exports.loss_pack_csv(actor=request.user, location=location), f"cs-loss-{location.code}.csv"
    )


def _lots(request: HttpRequest, location, form) -> list:
    return [
        (selectors.lot_get_for_user(user=request.user, location=location, lot_id=lot_id), qty)
        for lot_id, qty in form.line_ids()
    ]


@login_required
def registrations(request: HttpRequest, location_code: str) -> HttpResponse:
    """§4: the location's DEA registrations (renewals are new rows); admins record them."""
    location = _location(request, location_code, Perm.CS_VIEW)
    can_record = request.user.has_role_perm(Perm.CS_EXPORT)
    form = RegistrationForm(request.POST or None)
    if request.method == "POST":
        if not can_record:
            raise PermissionDenied
        if form.is_valid():
            try:
                compliance.registration_record(
                    actor=request.user, location=location, **form.cleaned_data
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, "Registration recorded.")
                return redirect("controlled:registrations", location_code=location.code)
    audit_record(
        actor=request.user, action=AuditAction.VIEW, obj=location, detail={"view": "cs_reg"}
    )
    return render(
        request,
        "controlled/registrations.html",
        {
            "location": location,
            "status": compliance.registration_status(location=location),
            "registrations": selectors.registrations_at(location=location),
            "form": form if can_record else None,
        },
    )


@login_required
def destroy(request: HttpRequest, location_code: str) -> HttpResponse:
    """CS-17, CS-18, CS-37: Form 41; both witnesses type their e-mail and password or code."""
    location = _location(request, location_code, Perm.CS_RECORD)
    form = DestructionForm(request.POST or None, lots=selectors.lots_at(location=location))
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        response = _record(
            request,
            location,
            form,
            "Destruction recorded (Form 41 data).",
            compliance.destruction_record,
            location=location,
            lines=_lots(request, location, form),
            method=d["method"],
            place=d["place"],
            witness_1_email=d["witness_1_email"],
            witness_1_secret=d["witness_1_secret"],
            witness_2_email=d["witness_2_email"],
            witness_2_secret=d["witness_2_secret"],
        )
        if response is not None:
            return response
    return _form_page(
        request,
        location,
        form,
        "Destroy inventory (DEA Form 41)",
        "Record destruction",
        "CS-17, CS-18, CS-37: expired or unwanted stock, or a multiple-dose vial's remainder "
        "(CS-21: inventory, not wastage), destroyed to a non-retrievable state before two "
        "authorized witnesses, each signing here with their password or code.",
    )


@login_required
def return_stock(request: HttpRequest, location_code: str) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_RECORD)
    form = ReturnForm(request.POST or None, lots=selectors.lots_at(location=location))
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        response = _record(
            request,
            location,
            form,
            "Return to the reverse distributor recorded.",
            compliance.reverse_distributor_return_record,
            location=location,
            lines=_lots(request, location, form),
            distributor_name=d["distributor_name"],
            distributor_address=d["distributor_address"],
            distributor_dea=d["distributor_dea"],
            reference=d["reference"],
        )
        if response is not None:
            return response
    return _form_page(
        request,
        location,
        form,
        "Return to a reverse distributor",
        "Record return",
        "CS-17, CS-37: the reverse distributor's name, address and DEA number.",
    )


@login_required
def loss_new(request: HttpRequest, location_code: str) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_RECORD)
    form = LossForm(request.POST or None, lots=selectors.lots_at(location=location))
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            report = compliance.loss_report_open(
                actor=request.user,
                location=location,
                discovered_at=None,
                lines=_lots(request, location, form),
                **{k: d[k] for k in d if not k.startswith(("lot_", "qty_"))},
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return redirect(
                "controlled:loss_report", location_code=location.code, report_id=report.pk
            )
    return _form_page(
        request,
        location,
        form,
        "Report a theft or loss",
        "Open the report",
        "CS-38, CS-13: discovered now. Written notice to the DEA Field Division Office within "
        "1 business day; DEA Form 106 online within 45 days.",
    )


@login_required
def loss_report(request: HttpRequest, location_code: str, report_id: int) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_VIEW)
    report = selectors.loss_report_get_for_user(
        user=request.user, location=location, report_id=report_id
    )
    notice, form106 = NoticeSentForm(), Form106Form()
    if request.method == "POST":
        require_perm(request, Perm.CS_RECORD)
        step = request.POST.get("step")
        form = Form106Form(request.POST) if step == "form106" else NoticeSentForm(request.POST)
        if form.is_valid():
            try:
                if step == "form106":
                    compliance.loss_report_form106_submitted(
                        actor=request.user,
                        report=report,
                        reference=form.cleaned_data["reference"],
                    )
                else:
                    compliance.loss_report_notice_sent(actor=request.user, report=report)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return redirect(
                    "controlled:loss_report", location_code=location.code, report_id=report.pk
                )
        if step == "form106":
            form106 = form
        else:
            notice = form
    audit_record(actor=request.user, action=AuditAction.VIEW, obj=report)
    return render(
        request,
        "controlled/loss_report.html",
        {
            "location": location,
            "report": report,
            "deadlines": compliance.loss_deadlines(report),
            "notice_form": notice,
            "form106_form": form106,
            "can_record": request.user.has_role_perm(Perm.CS_RECORD),
            "can_export": request.user.has_role_perm(Perm.CS_EXPORT),
        },
    )


@login_required
def loss_notice(request: HttpRequest, location_code: str, report_id: int) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_EXPORT)
    report = selectors.loss_report_get_for_user(
        user=request.user, location=location, report_id=report_id
    )
    response = HttpResponse(
        exports.loss_notice_draft(actor=request.user, report=report),
        content_type="text/plain; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="dea-notice-{report.pk}.txt"'
    return response


@login_required
def form41_export(request: HttpRequest, location_code: str, destruction_id: int) -> HttpResponse:
    location = _location(request, location_code, Perm.CS_EXPORT)
    destruction = selectors.destruction_get_for_user(
        user=request.user, location=location, destruction_id=destruction_id
    )
    try:
        body = exports.form41_csv(actor=request.user, destruction=destruction)
    except ValidationError as exc:
        raise Http404("Not an on-site destruction.") from exc
    return _csv(body, f"form41-{location.code}-{destruction.pk}.csv")


@login_required
def reconcile_sign(request: HttpRequest, location_code: str) -> HttpResponse:
    """R2, CS-43: today's counts, open doses, and the sign-off by two."""
    location = _location(request, location_code, Perm.CS_RECORD)
    form = ReconciliationSignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        response = _record(
            request,
            location,
            form,
            "Today's reconciliation is signed.",
            compliance.reconciliation_sign,
            location=location,
            second_email=d["second_email"],
            second_secret=d["second_secret"],
            note=d["note"],
        )
        if response is not None:
            return response
    return render(
        request,
        "controlled/reconcile_sign.html",
        {
            "location": location,
            "state": compliance.reconciliation_state(location=location),
            "form": form,
        },
        status=422 if request.method == "POST" else 200,
    )


@login_required
def remainder_waste(request: HttpRequest, location_code: str) -> HttpResponse:
    """CS-21: only when `CONTROLLED_MDV_REMAINDER_IS_WASTAGE` is on; otherwise the page says to
    use Form 41 and the service refuses."""
    intro = (
        "CS-21: this clinic counts a multiple-dose vial's remainder as wastage (one witness)."
        if conf.mdv_remainder_is_wastage()
        else "CS-21: this clinic counts a multiple-dose vial's remainder as inventory: use "
        "'Destroy (Form 41)' or a return to a reverse distributor instead."
    )
    return _lot_action(
        request,
        location_code,
        form_class=RemainderWasteForm,
        service=compliance.vial_remainder_waste_record,
        done="Vial remainder recorded as witnessed wastage.",
        page=("Discard a vial remainder", "Record wastage", intro),
        fields=("qty_ml", "reason", "witness_email", "witness_secret"),
    )
