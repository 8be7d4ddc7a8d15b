"""Billing pages. Invoices and payments are reached through `invoice_get_for_user` /
`payment_get_for_user` (404 + `denied` event outside the user's patients and locations); the role's
capability is checked after that (403). Every PDF download is an `export` audit event."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import location_get_for_user, require_perm
from infusionclinic.common.bounds import date_from_text
from infusionclinic.patients.forms import apply_service_errors
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patient_get_for_user
from infusionclinic.scheduling.models import Appointment, AppointmentStatus

from . import cardonfile, deposits, online, pdf, services
from .forms import InvoiceForm, PackageForm, PaymentForm, RefundForm
from .models import (
    BillingProvider,
    CardOnFile,
    Deposit,
    DepositStatus,
    InvoiceStatus,
    PackagePlan,
    PackagePurchase,
    PaymentKind,
)
from .selectors import (
    invoice_figures,
    invoice_get_for_user,
    invoice_pump_basis,
    invoices_for_patient,
    package_sessions_left,
    payment_get_for_user,
    payment_refunded,
)


def _may_read(request: HttpRequest) -> None:
    if not (
        request.user.has_role_perm(Perm.BILLING_MANAGE)
        or request.user.has_role_perm(Perm.BILLING_VIEW_OWN)
    ):
        raise PermissionDenied


def _billing_forms(request: HttpRequest, patient: Patient, data: Any = None) -> dict[str, Any]:
    locations = request.user.locations.all()
    appointments = (
        Appointment.objects.filter(
            patient=patient,
            location__in=locations,
            status=AppointmentStatus.COMPLETED,
            invoice__isnull=True,
        )
        .select_related("location")
        .order_by("-starts_at")
    )
    appointment_choices = [
        (
            a.pk,
            f"{a.starts_at.astimezone(a.location.tzinfo):%Y-%m-%d %H:%M} "
            f"{a.get_kind_display()} ({a.location.name})",
        )
        for a in appointments
    ]
    providers = [
        (p.user_id, f"{p.display_name} (NPI {p.npi})")
        for p in BillingProvider.objects.filter(user__locations__in=locations).distinct()
    ]
    plans = [
        (p.pk, f"{p.name}: {p.sessions} x {p.service.code} for ${p.price} ({p.location.name})")
        for p in PackagePlan.objects.filter(location__in=locations, active=True).select_related(
            "service", "location"
        )
    ]
    return {
        "invoice_form": InvoiceForm(data, appointments=appointment_choices, providers=providers),
        "package_form": PackageForm(data, plans=plans),
    }


def _render_billing(request: HttpRequest, patient: Patient, **forms: Any) -> HttpResponse:
    context = _billing_forms(request, patient)
    context.update(forms)
    packages = [
        (purchase, package_sessions_left(purchase))
        for purchase in patient.packages.filter(plan__location__in=request.user.locations.all())
        .select_related("plan", "invoice")
        .order_by("-created_at")
    ]
    return render(
        request,
        "billing/patient_billing.html",
        {
            "patient": patient,
            "invoices": invoices_for_patient(user=request.user, patient=patient),
            "packages": packages,
            "stripe_online": online.stripe_configured(),
            "card": cardonfile.card_on_file(patient),
            "missed": Appointment.objects.filter(
                patient=patient, location__in=request.user.locations.all()
            )
            .filter(
                Q(status=AppointmentStatus.NO_SHOW)
                | Q(status=AppointmentStatus.CANCELLED, late_cancellation=True)
            )
            .select_related("location", "fee_charge")
            .order_by("-starts_at")[:20],
            "deposits": Deposit.objects.filter(
                appointment__patient=patient,
                appointment__location__in=request.user.locations.all(),
            )
            .select_related("appointment__location")
            .order_by("-created_at")[:20],
            "now": timezone.now(),
            "is_admin": request.user.role == "admin",
            **context,
        },
    )


@login_required
def patient_billing(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.BILLING_MANAGE)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"page": "billing"},
    )
    return _render_billing(request, patient)


@login_required
@require_POST
def invoice_create(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.BILLING_MANAGE)
    form = _billing_forms(request, patient, request.POST)["invoice_form"]
    if form.is_valid():
        data = form.cleaned_data
        appointment = Appointment.objects.select_related("location").get(
            pk=data["appointment"], patient=patient
        )
        provider = None
        if data["rendering_provider"]:
            provider = BillingProvider.objects.get(user_id=data["rendering_provider"]).user
        try:
            invoice = services.invoice_create(
                actor=request.user,
                appointment=appointment,
                lines=data["lines"],
                rendering_provider=provider,
                use_package=data["use_package"],
            )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"Invoice {invoice.number} issued.")
            return redirect("billing:invoice", invoice_id=invoice.pk)
    return _render_billing(request, patient, invoice_form=form)


@login_required
@require_POST
def appointment_invoice_create(request: HttpRequest, appointment_id: int) -> HttpResponse:
    """Issue 21 point 7: "Create invoice" on a completed infusion's appointment or session page,
    one click (the codes from the pump, a package applied); then the invoice page."""
    from infusionclinic.scheduling.selectors import appointment_get_for_user

    appointment = appointment_get_for_user(user=request.user, appointment_id=appointment_id)
    require_perm(request, Perm.BILLING_MANAGE)
    try:
        invoice = services.appointment_invoice_create(actor=request.user, appointment=appointment)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect("scheduling:appointment", appointment_id=appointment.pk)
    messages.success(request, f"Invoice {invoice.number} issued.")
    return redirect("billing:invoice", invoice_id=invoice.pk)


@login_required
@require_POST
def package_sell(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.BILLING_MANAGE)
    form = _billing_forms(request, patient, request.POST)["package_form"]
    if form.is_valid():
        plan = PackagePlan.objects.select_related("location", "service").get(
            pk=form.cleaned_data["plan"]
        )
        try:
            purchase = services.package_sell(actor=request.user, patient=patient, plan=plan)
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"{plan.name} sold: invoice {purchase.invoice.number}.")
            return redirect("billing:invoice", invoice_id=purchase.invoice_id)
    return _render_billing(request, patient, package_form=form)


def _render_invoice(request: HttpRequest, invoice: Any, **forms: Any) -> HttpResponse:
    payments = list(invoice.payments.select_related("recorded_by"))
    can_manage = request.user.has_role_perm(Perm.BILLING_MANAGE)
    refundable = {
        p.pk: p.amount - payment_refunded(p) for p in payments if p.kind == PaymentKind.PAYMENT
    }
    figures = invoice_figures(invoice)
    package = PackagePurchase.objects.filter(invoice=invoice).select_related("plan").first()
    package_due = online.package_refund_due(package) if package else None
    return render(
        request,
        "billing/invoice.html",
        {
            "invoice": invoice,
            "patient": invoice.patient,
            "lines": invoice.lines.all(),
            "figures": figures,
            "pump": invoice_pump_basis(invoice),
            "payments": payments,
            "refundable": refundable,
            "can_manage": can_manage,
            "superbills": settings.BILLING_ISSUE_SUPERBILLS and invoice.appointment_id is not None,
            "payment_form": forms.get("payment_form") or PaymentForm(),
            "refund_form": forms.get("refund_form")
            or RefundForm(initial={"request_key": secrets.token_urlsafe(16)}),
            "pay_online": online.stripe_configured()
            and figures.balance > 0
            and invoice.status == InvoiceStatus.ISSUED,
            "refund_failed": forms.get("refund_failed"),
            "package": package,
            "package_due": package_due,
            "may_refund_package": package_due is not None
            and package_due[0] > 0
            and package_due[1] > 0
            and request.user.role == "admin"
            and can_manage,
            "package_request_key": secrets.token_urlsafe(16),
        },
    )


@login_required
def invoice_detail(request: HttpRequest, invoice_id: int) -> HttpResponse:
    invoice = invoice_get_for_user(user=request.user, invoice_id=invoice_id)
    _may_read(request)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=invoice.patient,
        obj=invoice,
        detail={"page": "invoice"},
    )
    return _render_invoice(request, invoice)


@login_required
@require_POST
def payment_add(request: HttpRequest, invoice_id: int) -> HttpResponse:
    invoice = invoice_get_for_user(user=request.user, invoice_id=invoice_id)
    require_perm(request, Perm.BILLING_MANAGE)
    form = PaymentForm(request.POST)
    if form.is_valid():
        try:
            payment = services.payment_record(
                actor=request.user, invoice=invoice, **form.cleaned_data
            )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"Payment {payment.number} recorded.")
            return redirect("billing:invoice", invoice_id=invoice.pk)
    return _render_invoice(request, invoice, payment_form=form)


@login_required
@require_POST
def refund_add(request: HttpRequest, payment_id: int) -> HttpResponse:
    payment = payment_get_for_user(user=request.user, payment_id=payment_id)
    require_perm(request, Perm.BILLING_MANAGE)
    form = RefundForm(request.POST)
    if form.is_valid():
        try:
            if payment.provider == online.PROVIDER:
                refund = online.processor_refund(
                    actor=request.user,
                    payment=payment,
                    amount=form.cleaned_data["amount"],
                    note=form.cleaned_data["note"],
                    request_key=form.cleaned_data["request_key"],
                )
            else:
                refund = services.refund_record(
                    actor=request.user,
                    payment=payment,
                    amount=form.cleaned_data["amount"],
                    reference=form.cleaned_data["reference"],
                    note=form.cleaned_data["note"],
                )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"Refund {refund.number} recorded.")
            return redirect("billing:invoice", invoice_id=payment.invoice_id)
    return _render_invoice(request, payment.invoice, refund_form=form, refund_failed=payment.pk)


def _pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def receipt_pdf(request: HttpRequest, payment_id: int) -> HttpResponse:
    payment = payment_get_for_user(user=request.user, payment_id=payment_id)
    _may_read(request)
    content = pdf.receipt_pdf(payment)
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        patient=payment.invoice.patient,
        obj=payment,
        detail={"format": "pdf", "document": "receipt"},
    )
    return _pdf_response(content, f"{payment.number}.pdf")


@login_required
def superbill_pdf(request: HttpRequest, invoice_id: int) -> HttpResponse:
    invoice = invoice_get_for_user(user=request.user, invoice_id=invoice_id)
    _may_read(request)
    # CODE-PX-R3: the clinic decides whether it issues superbills at all.
    if not settings.BILLING_ISSUE_SUPERBILLS or invoice.appointment_id is None:
        raise Http404("This clinic does not issue superbills.")
    content = pdf.superbill_pdf(invoice)
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        patient=invoice.patient,
        obj=invoice,
        detail={"format": "pdf", "document": "superbill"},
    )
    return _pdf_response(content, f"superbill-{invoice.number}.pdf")


@login_required
def my_invoices(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.BILLING_VIEW_OWN)
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404("No chart is linked to this log-in.")
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"page": "my_invoices"},
    )
    due = Deposit.objects.filter(
        appointment__patient=patient,
        status=DepositStatus.PENDING,
        hold_until__gt=timezone.now(),
    ).select_related("appointment__location")
    return render(
        request,
        "billing/my_invoices.html",
        {
            "patient": patient,
            "invoices": invoices_for_patient(user=request.user, patient=patient),
            "deposits_due": due if online.stripe_configured() else [],
        },
    )


@login_required
@require_POST
def invoice_pay_online(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Open Stripe's hosted payment page for the balance. Our CSP's form-action is 'self', so the
    answer is a page with the link to Stripe rather than a redirect after the POST."""
    invoice = invoice_get_for_user(user=request.user, invoice_id=invoice_id)
    _may_read(request)
    back = request.build_absolute_uri(reverse("billing:invoice", args=[invoice.pk]))
    try:
        checkout = online.invoice_checkout_start(
            actor=request.user,
            invoice=invoice,
            success_url=f"{back}?paid=1",
            cancel_url=back,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("billing:invoice", invoice_id=invoice.pk)
    return render(
        request, "billing/pay_online.html", {"invoice": invoice, "checkout": checkout.session}
    )


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's events (checkout completed or expired, refunds). A bad signature answers 400 and
    stores nothing; a failure on our side answers 503 so that Stripe delivers it again."""
    try:
        event = online.webhook_handle(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except online.WebhookRejected:
        return JsonResponse({"error": "invalid payload or signature"}, status=400)
    except ValidationError as error:
        return JsonResponse({"error": " ".join(error.messages)}, status=503)
    return JsonResponse({"received": event.event_id, "outcome": event.outcome})


def _reconciliation(request: HttpRequest, location_code: str):  # noqa: ANN202

    from django.utils import timezone

    from .reconciliation import reconciliation_day

    require_perm(request, Perm.BILLING_MANAGE)
    location = location_get_for_user(user=request.user, location=location_code)
    raw = request.GET.get("date") or ""
    try:
        day = date_from_text(raw) if raw else timezone.localdate(timezone=location.tzinfo)
    except ValueError:
        return location, None, f"“{raw[:20]}” is not a date: use YYYY-MM-DD."
    try:
        return location, reconciliation_day(actor=request.user, location=location, day=day), ""
    except ValidationError as error:
        return location, None, " ".join(error.messages)


@login_required
def stripe_reconciliation(request: HttpRequest, location_code: str) -> HttpResponse:
    """Admins: the day's card payments and refunds here against Stripe's balance transactions."""
    if not online.stripe_configured():
        raise Http404("Stripe is not set up.")
    location, report, error = _reconciliation(request, location_code)
    mine = set(request.user.locations.values_list("pk", flat=True))
    return render(
        request,
        "billing/reconciliation.html",
        {"location": location, "report": report, "error": error, "mine": mine},
        status=400 if error and report is None and request.GET.get("date") else 200,
    )


@login_required
def stripe_reconciliation_csv(request: HttpRequest, location_code: str) -> HttpResponse:
    from .reconciliation import reconciliation_csv

    if not online.stripe_configured():
        raise Http404("Stripe is not set up.")
    location, report, error = _reconciliation(request, location_code)
    if report is None:
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(
        reconciliation_csv(report, user=request.user), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="stripe-reconciliation-{location.code}-{report.day}.csv"'
    )
    return response


# --- Packages bought online (issue 19) ---------------------------------------------------------


def _package_page(request: HttpRequest, patient: Patient, plan: PackagePlan, back: str):
    try:
        checkout = online.package_checkout_start(
            actor=request.user,
            patient=patient,
            plan=plan,
            success_url=f"{back}?paid=1",
            cancel_url=back,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    return render(
        request,
        "billing/pay_package.html",
        {"plan": plan, "checkout": checkout.session, "back": back},
    )


@login_required
def my_packages(request: HttpRequest) -> HttpResponse:
    """The patient's packages and the packages on offer, each with "Buy online"."""
    require_perm(request, Perm.BILLING_VIEW_OWN)
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404("No chart is linked to this log-in.")
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"page": "my_packages"},
    )
    plans = PackagePlan.objects.filter(active=True).select_related("location", "service")
    if patient.home_location_id:
        plans = plans.filter(location_id=patient.home_location_id)
    owned = [
        (p, package_sessions_left(p))
        for p in PackagePurchase.objects.filter(patient=patient).select_related("plan", "invoice")
    ]
    return render(
        request,
        "billing/my_packages.html",
        {
            "patient": patient,
            "plans": plans,
            "owned": owned,
            "online": online.stripe_configured(),
        },
    )


@login_required
@require_POST
def my_package_buy(request: HttpRequest, plan_id: int) -> HttpResponse:
    require_perm(request, Perm.BILLING_VIEW_OWN)
    patient = getattr(request.user, "patient", None)
    plan = PackagePlan.objects.filter(pk=plan_id, active=True).first()
    if patient is None or plan is None:
        raise Http404
    return _package_page(
        request, patient, plan, request.build_absolute_uri(reverse("billing:my_packages"))
    )


@login_required
@require_POST
def package_buy_online(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The front desk opens Stripe's page for a package (the patient pays at the desk's screen or
    is sent the link)."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.BILLING_MANAGE)
    form = _billing_forms(request, patient, request.POST)["package_form"]
    if not form.is_valid():
        return _render_billing(request, patient, package_form=form)
    plan = PackagePlan.objects.select_related("location").get(pk=form.cleaned_data["plan"])
    back = request.build_absolute_uri(reverse("billing:patient_billing", args=[patient.pk]))
    return _package_page(request, patient, plan, back)


@login_required
@require_POST
def package_refund(request: HttpRequest, purchase_id: int) -> HttpResponse:
    purchase = PackagePurchase.objects.filter(pk=purchase_id).first()
    if purchase is None:
        raise Http404
    invoice = invoice_get_for_user(user=request.user, invoice_id=purchase.invoice_id)
    require_perm(request, Perm.BILLING_MANAGE)
    try:
        purchase = online.package_refund(
            actor=request.user,
            purchase=purchase,
            request_key=request.POST.get("request_key", ""),
            note=request.POST.get("note", ""),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Unused sessions released: {purchase.sessions_released}.")
    return redirect("billing:invoice", invoice_id=invoice.pk)


# --- Card on file and the late-cancel / no-show fee (issue 19) ---------------------------------


def _own_patient(request: HttpRequest) -> Patient:
    require_perm(request, Perm.BILLING_VIEW_OWN)
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404("No chart is linked to this log-in.")
    return patient


@login_required
def my_card(request: HttpRequest) -> HttpResponse:
    """The fee policy (current version) and the saved card, if any (brand, last 4, expiry)."""
    patient = _own_patient(request)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"page": "my_card"},
    )
    return render(
        request,
        "billing/my_card.html",
        {
            "policy": cardonfile.fee_policy_current(),
            "card": cardonfile.card_on_file(patient),
            "online": online.stripe_configured(),
        },
    )


@login_required
@require_POST
def my_card_setup(request: HttpRequest) -> HttpResponse:
    _own_patient(request)
    back = request.build_absolute_uri(reverse("billing:my_card"))
    version = request.POST.get("version", "")
    try:
        setup = cardonfile.card_setup_start(
            actor=request.user,
            agree_version=int(version) if request.POST.get("agree") and version.isdigit() else None,
            success_url=f"{back}?saved=1",
            cancel_url=back,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("billing:my_card")
    return render(request, "billing/card_setup.html", {"setup": setup})


@login_required
@require_POST
def my_card_remove(request: HttpRequest, card_id: int) -> HttpResponse:
    patient = _own_patient(request)
    card = CardOnFile.objects.filter(pk=card_id, patient=patient, active=True).first()
    if card is None:
        raise Http404
    cardonfile.card_remove(actor=request.user, card=card)
    messages.success(request, "The saved card was removed.")
    return redirect("billing:my_card")


@login_required
def appointment_fee(request: HttpRequest, appointment_id: int) -> HttpResponse:
    """Staff review the fee, the card and the policy text the patient agreed to, then charge it
    (POST). Never charged without this page's confirmation."""
    from infusionclinic.scheduling.selectors import appointment_get_for_user

    appointment = appointment_get_for_user(user=request.user, appointment_id=appointment_id)
    require_perm(request, Perm.BILLING_MANAGE)
    if request.method == "POST":
        try:
            charge = cardonfile.fee_charge(
                actor=request.user,
                appointment=appointment,
                amount_shown=request.POST.get("amount", "") or "0",
            )
        except (ValidationError, ArithmeticError) as error:
            text = " ".join(error.messages) if isinstance(error, ValidationError) else "Bad amount."
            messages.error(request, text)
        else:
            messages.success(request, f"Fee charged: invoice {charge.invoice.number}.")
            return redirect("billing:invoice", invoice_id=charge.invoice_id)
    quote = cardonfile.fee_quote(actor=request.user, appointment=appointment)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=appointment.patient,
        obj=appointment,
        detail={"page": "appointment_fee"},
    )
    return render(
        request,
        "billing/appointment_fee.html",
        {"appointment": appointment, "patient": appointment.patient, "quote": quote},
    )


def _deposit_for_user(request: HttpRequest, deposit_id: int):  # noqa: ANN202
    """A deposit and its appointment, reached through the appointment's access check (404 and a
    `denied` event for a patient or location the user may not see)."""
    from infusionclinic.scheduling.selectors import appointment_get_for_user

    deposit = Deposit.objects.filter(pk=deposit_id).first()
    if deposit is None:
        raise Http404
    appointment = appointment_get_for_user(user=request.user, appointment_id=deposit.appointment_id)
    return deposit, appointment


@login_required
@require_POST
def deposit_pay(request: HttpRequest, deposit_id: int) -> HttpResponse:
    """Issue 19: Stripe's page for a booking's deposit (the patient, or the front desk)."""
    deposit, _ = _deposit_for_user(request, deposit_id)
    _may_read(request)
    if request.user.role == "patient":
        back = request.build_absolute_uri(reverse("billing:my_invoices"))
    else:
        back = request.build_absolute_uri(
            reverse("billing:patient_billing", args=[deposit.appointment.patient_id])
        )
    try:
        checkout = deposits.deposit_checkout_start(
            actor=request.user, deposit=deposit, success_url=f"{back}?paid=1", cancel_url=back
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    return render(
        request,
        "billing/pay_deposit.html",
        {"deposit": deposit, "checkout": checkout.session, "back": back},
    )


@login_required
@require_POST
def deposit_refund(request: HttpRequest, deposit_id: int) -> HttpResponse:
    """An admin refunds a paid deposit no invoice used (e.g. the appointment was cancelled)."""
    deposit, appointment = _deposit_for_user(request, deposit_id)
    require_perm(request, Perm.BILLING_MANAGE)
    try:
        deposits.deposit_refund(actor=request.user, deposit=deposit)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Deposit of ${deposit.amount} refunded.")
    return redirect("billing:patient_billing", patient_id=appointment.patient_id)
