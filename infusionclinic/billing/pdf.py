"""Receipts and superbills as PDF (fpdf2, core fonts; text through common.pdftext.latin1)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from fpdf import FPDF

from infusionclinic.common.pdftext import latin1
from infusionclinic.patients.models import Diagnosis

from .models import BillingProvider, Invoice, Payment, PaymentKind
from .money import line_amount
from .selectors import invoice_figures, invoice_pump_basis


def _usd(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _doc(title: str) -> FPDF:
    pdf = FPDF(format="Letter")
    pdf.set_title(latin1(title))
    pdf.set_creator("Infusion Clinic")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.multi_cell(0, 8, latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    return pdf


def _lines(pdf: FPDF, lines: list[str]) -> None:
    for line in lines:
        pdf.multi_cell(0, 6, latin1(line) or " ", new_x="LMARGIN", new_y="NEXT")


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 11)
    pdf.multi_cell(0, 7, latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)


def _header(invoice: Invoice) -> list[str]:
    location = invoice.location
    patient = invoice.patient
    return [
        f"{location.clinic.name} - {location.name}",
        *(location.address.splitlines() if location.address else []),
        "",
        f"Patient: {patient.legal_name}, born {patient.birth_date:%Y-%m-%d}, MRN {patient.mrn}",
        f"Invoice {invoice.number}, date of service {invoice.date_of_service:%Y-%m-%d}",
    ]


def _how(payment: Payment) -> str:
    """How the money moved: a card taken online names the processor (its reference follows)."""
    method = payment.get_method_display()
    return f"{method}, online via Stripe" if payment.provider == "stripe" else method


def receipt_pdf(payment: Payment) -> bytes:
    invoice = payment.invoice
    figures = invoice_figures(invoice)
    is_refund = payment.kind == PaymentKind.REFUND
    pdf = _doc(f"{'Refund receipt' if is_refund else 'Receipt'} {payment.number}")
    recorded = payment.recorded_at.astimezone(invoice.location.tzinfo)
    _lines(
        pdf,
        [
            *_header(invoice),
            f"{'Refunded' if is_refund else 'Received'}: {_usd(payment.amount)} "
            f"({_how(payment)}) on {recorded:%Y-%m-%d %H:%M %Z}",
            f"Reference: {payment.reference or '-'}",
            "",
            f"Invoice total: {_usd(figures.total)}",
            f"Paid to date: {_usd(figures.paid)}; refunded: {_usd(figures.refunded)}",
            f"Balance due: {_usd(figures.balance)}",
        ],
    )
    return bytes(pdf.output())


def superbill_pdf(invoice: Invoice) -> bytes:
    """codes.md CODE-PX-R3: ICD-10-CM + CPT/HCPCS + units + charge, with the rendering provider's
    NPI, the place of service and the clinic's tax id, for the patient's out-of-network claim."""
    figures = invoice_figures(invoice)
    provider = (
        BillingProvider.objects.filter(user=invoice.rendering_provider).first()
        if invoice.rendering_provider_id
        else None
    )
    diagnoses = list(Diagnosis.objects.filter(patient=invoice.patient))
    patient = invoice.patient
    pdf = _doc(f"Superbill {invoice.number}")
    _lines(
        pdf,
        [
            *_header(invoice),
            "Patient address: "
            + (
                ", ".join(
                    part
                    for part in (
                        patient.address_line1,
                        patient.address_line2,
                        patient.city,
                        f"{patient.region} {patient.postal_code}".strip(),
                    )
                    if part
                )
                or "-"
            ),
            f"Clinic tax id (TIN): {settings.BILLING_TAX_ID or 'not set'}",
            f"Place of service: {settings.BILLING_PLACE_OF_SERVICE}",
        ],
    )
    _heading(pdf, "Rendering provider")
    if provider is not None:
        name = (
            f"{provider.display_name}{', ' + provider.credentials if provider.credentials else ''}"
        )
        _lines(pdf, [name, f"NPI: {provider.npi}"])
    else:
        _lines(pdf, ["Not recorded"])
    _heading(pdf, "Diagnoses (ICD-10-CM)")
    _lines(pdf, [f"{i}. {d.code} {d.description}" for i, d in enumerate(diagnoses, 1)] or ["-"])
    _heading(pdf, "Services (CPT/HCPCS)")
    for line in invoice.lines.all():
        if not line.code:
            continue
        amount = line_amount(units=line.units, unit_price=line.unit_price)
        _lines(
            pdf,
            [
                f"{invoice.date_of_service:%Y-%m-%d}  {line.code}  {line.label}  "
                f"units {line.units}  x {_usd(line.unit_price)}  = {_usd(amount)}"
            ],
        )
    basis = invoice_pump_basis(invoice)
    if basis is not None:
        # CODE-PX-R1: the documented times the infusion codes were derived from.
        _lines(
            pdf,
            [
                f"Infusion (pump record, {basis.time_zone}): start {basis.started_iso}, "
                f"stop {basis.stopped_iso}",
                f"Running {basis.running_minutes} min, paused {basis.paused_minutes} min: "
                + (", ".join(f"{c.code} x{c.units} ({c.rule_id})" for c in basis.codes) or "-"),
            ],
        )
    elif invoice.infusion_started_at and invoice.infusion_stopped_at:
        tz = invoice.location.tzinfo
        _lines(
            pdf,
            [
                f"Infusion (pump record): start {invoice.infusion_started_at.astimezone(tz):%H:%M}"
                f", stop {invoice.infusion_stopped_at.astimezone(tz):%H:%M} {tz.key}"
            ],
        )
    _heading(pdf, "Payments")
    _lines(
        pdf,
        [
            f"{p.recorded_at.astimezone(invoice.location.tzinfo):%Y-%m-%d}  {p.number}  "
            f"{p.get_kind_display()} {_usd(p.amount)} ({_how(p)})"
            + (f" ref. {p.reference}" if p.reference else "")
            for p in invoice.payments.all()
        ]
        or ["-"],
    )
    _heading(pdf, "Totals")
    _lines(
        pdf,
        [
            f"Total charges: {_usd(figures.subtotal)}",
            f"Prepaid package credit: {_usd(figures.package_credit)}",
            f"Amount paid by patient: {_usd(figures.paid - figures.refunded)}",
            f"Balance due: {_usd(figures.balance)}",
        ],
    )
    return bytes(pdf.output())
