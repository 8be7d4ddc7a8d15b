"""Billing pages. Invoices and payments are reached through `invoice_get_for_user` /
`payment_get_for_user` (404 + `denied` event outside the user's patients and locations); the role's
capability is checked after that (403). Every PDF download is an `export` audit event."""

from __future__ import annotations

from typing import Any

from django.conf import settings
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
from infusionclinic.patients.forms import apply_service_errors
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patient_get_for_user
from infusionclinic.scheduling.models import Appointment, AppointmentStatus

from . import pdf, services
from .forms import InvoiceForm, PackageForm, PaymentForm, RefundForm
from .models import BillingProvider, PackagePlan, PaymentKind
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
    return render(
        request,
        "billing/invoice.html",
        {
            "invoice": invoice,
            "patient": invoice.patient,
            "lines": invoice.lines.all(),
            "figures": invoice_figures(invoice),
            "pump": invoice_pump_basis(invoice),
            "payments": payments,
            "refundable": refundable,
            "can_manage": can_manage,
            "superbills": settings.BILLING_ISSUE_SUPERBILLS and invoice.appointment_id is not None,
            "payment_form": forms.get("payment_form") or PaymentForm(),
            "refund_form": forms.get("refund_form") or RefundForm(),
            "refund_failed": forms.get("refund_failed"),
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
            refund = services.refund_record(
                actor=request.user, payment=payment, **form.cleaned_data
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
    return render(
        request,
        "billing/my_invoices.html",
        {"patient": patient, "invoices": invoices_for_patient(user=request.user, patient=patient)},
    )
