"""Billing API (read-only): a patient's invoices and one invoice with its lines, figures and
payments, and, for an invoice tied to an infusion session, the pump times its infusion codes were
derived from (CODE-PX-R1). Money is a decimal string in USD; times are ISO 8601 with the location's
UTC offset."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Router, Schema

from infusionclinic.accounts.roles import Perm
from infusionclinic.api.fields import Id
from infusionclinic.api.schemas import ErrorOut
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients.selectors import patient_get_for_user

from .models import Invoice
from .selectors import (
    invoice_figures,
    invoice_get_for_user,
    invoice_pump_basis,
    invoices_for_patient,
)

router = Router(tags=["billing"])
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class LineOut(Schema):
    code: str
    label: str
    units: int
    unit_price: Decimal


class DerivedCodeOut(Schema):
    code: str
    units: int
    rule_id: str
    reason: str


class PumpTimesOut(Schema):
    """The pump record an invoice's infusion codes came from (CODE-PX-R1), frozen at issue."""

    infusion_session_id: int
    time_zone: str = Field(description="IANA zone of the location; the times carry its offset")
    started_at: datetime = Field(description="first pump start, ISO 8601 with UTC offset")
    stopped_at: datetime = Field(description="last pump stop, ISO 8601 with UTC offset")
    running_minutes: Decimal = Field(description="start/resume to pause/stop, to 0.01 min")
    paused_minutes: Decimal = Field(description="stop - start - running, to 0.01 min")
    running_seconds: Decimal = Field(description="the exact running time the codes came from")
    codes: list[DerivedCodeOut] = Field(description="CODE-PX1/PX2/PX3 from the running time")


class PaymentOut(Schema):
    id: int
    kind: str
    method: str
    amount: Decimal
    reference: str
    recorded_at: datetime


class InvoiceOut(Schema):
    id: int
    number: str
    patient_id: int
    location: str
    appointment_id: int | None
    infusion_session_id: int | None
    date_of_service: date
    currency: str
    subtotal: Decimal
    package_credit: Decimal
    total: Decimal
    paid: Decimal
    refunded: Decimal
    balance: Decimal
    lines: list[LineOut] | None = None
    payments: list[PaymentOut] | None = None
    pump: PumpTimesOut | None = None


def _require_read(request: HttpRequest) -> None:
    user = request.user
    if not (user.has_role_perm(Perm.BILLING_MANAGE) or user.has_role_perm(Perm.BILLING_VIEW_OWN)):
        raise PermissionDenied("Your role has no access to billing.")


def _out(invoice: Invoice, *, detail: bool = False) -> dict[str, Any]:
    figures = invoice_figures(invoice)
    out: dict[str, Any] = {
        "id": invoice.pk,
        "number": invoice.number,
        "patient_id": invoice.patient_id,
        "location": invoice.location.code,
        "appointment_id": invoice.appointment_id,
        "infusion_session_id": invoice.infusion_session_id,
        "date_of_service": invoice.date_of_service,
        "currency": invoice.currency,
        **figures.__dict__,
    }
    if detail:
        out["lines"] = [
            {"code": x.code, "label": x.label, "units": x.units, "unit_price": x.unit_price}
            for x in invoice.lines.all()
        ]
        out["payments"] = [
            {
                "id": p.pk,
                "kind": p.kind,
                "method": p.method,
                "amount": p.amount,
                "reference": p.reference,
                "recorded_at": p.recorded_at,
            }
            for p in invoice.payments.all()
        ]
        basis = invoice_pump_basis(invoice)
        if basis is not None:
            out["pump"] = {
                "infusion_session_id": basis.session_id,
                "time_zone": basis.time_zone,
                "started_at": basis.started_at,
                "stopped_at": basis.stopped_at,
                "running_minutes": basis.running_minutes,
                "paused_minutes": basis.paused_minutes,
                "running_seconds": basis.running_seconds,
                "codes": [c.__dict__ for c in basis.codes],
            }
    return out


# A query parameter, not /patients/{patient_id}/invoices: the generated access matrix's positive
# control is a prescriber, who has no billing (403); this route's 404 tests are in test_api.py.
@router.get("/invoices", response={200: list[InvoiceOut], **ERRORS})
def list_invoices(request: HttpRequest, patient: Id) -> Any:
    """A patient's invoices with their totals and balances (`?patient=<id>`)."""
    patient_row = patient_get_for_user(user=request.user, patient_id=patient)
    _require_read(request)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient_row,
        obj=patient_row,
        detail={"api": "invoices"},
    )
    rows = invoices_for_patient(user=request.user, patient=patient_row)
    return [_out(invoice) for invoice, _ in rows]


@router.get("/invoices/{invoice_id}", response={200: InvoiceOut, **ERRORS})
def get_invoice(request: HttpRequest, invoice_id: Id) -> Any:
    """One invoice with its lines and payments and, when tied to an infusion session, the pump
    times its infusion codes came from (404 outside your patients and locations)."""
    invoice = invoice_get_for_user(user=request.user, invoice_id=invoice_id)
    _require_read(request)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=invoice.patient,
        obj=invoice,
        detail={"api": "invoice"},
    )
    return _out(invoice, detail=True)
