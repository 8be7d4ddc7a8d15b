"""Reads of billing data, scoped by the user: an invoice or payment is reached only through a
patient the user may see and, for staff, only at one of their own locations (404 otherwise, with a
`denied` event, like `patient_get_for_user`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import QuerySet, Sum

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Role
from infusionclinic.common.access import denied
from infusionclinic.infusions.dose import pump_record
from infusionclinic.infusions.models import InfusionSession
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patients_visible_to
from infusionclinic.scheduling.models import Appointment

from .models import (
    BillableService,
    Invoice,
    PackagePurchase,
    Payment,
    PaymentKind,
    Price,
)
from .money import ZERO, balance_due, cents, invoice_total, line_amount
from .units import DerivedCode, infusion_code_derivation


def price_in_force(*, location: Location, service: BillableService, on: date) -> Price | None:
    return (
        Price.objects.filter(location=location, service=service, effective_from__lte=on)
        .order_by("-effective_from")
        .first()
    )


@dataclass(frozen=True)
class InfusionTiming:
    """What the pump record of an appointment's infusion session documents (CODE-PX-R1)."""

    session_id: int
    started_at: datetime  # first start
    stopped_at: datetime | None  # last stop; None while the pump is running or paused
    running: timedelta  # start/resume to pause/stop, pauses excluded

    @property
    def stopped(self) -> bool:
        return self.stopped_at is not None


def infusion_timing(*, appointment: Appointment) -> InfusionTiming | None:
    """The appointment's infusion session's pump times, or None when no pump was started (no
    session, or a session cancelled before the infusion)."""
    session = InfusionSession.objects.filter(appointment=appointment).first()
    if session is None:
        return None
    # Issue 22 point 10: the pump record (running time, stop) is read from the one module that
    # owns the dose given, so the invoice's codes and the session's dose come from one record.
    record = pump_record(session)
    if record.started_at is None:
        return None
    if record.stopped_at is None:
        return InfusionTiming(session.pk, record.started_at, None, timedelta(0))
    return InfusionTiming(session.pk, record.started_at, record.stopped_at, record.running)


def _minutes(span: timedelta) -> Decimal:
    """Minutes to the hundredth (half up), from the exact microseconds."""
    return (Decimal(span // timedelta(microseconds=1)) / Decimal(60_000_000)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


@dataclass(frozen=True)
class PumpBasis:
    """What an invoice's infusion codes were derived from (CODE-PX-R1): the session's first pump
    start and last stop in the location's time zone, the running time between them (pauses
    excluded) and the paused rest, all as frozen on the invoice at issue, and the codes and units
    `units.infusion_code_derivation` gives for that running time (CODE-PX1/PX2/PX3)."""

    session_id: int
    time_zone: str  # IANA name of the location's zone; the datetimes carry its offset
    started_at: datetime
    stopped_at: datetime
    running: timedelta
    paused: timedelta
    codes: list[DerivedCode]

    @property
    def started_iso(self) -> str:
        return self.started_at.isoformat(timespec="seconds")

    @property
    def stopped_iso(self) -> str:
        return self.stopped_at.isoformat(timespec="seconds")

    @property
    def running_minutes(self) -> Decimal:
        return _minutes(self.running)

    @property
    def paused_minutes(self) -> Decimal:
        return _minutes(self.paused)

    @property
    def running_seconds(self) -> Decimal:
        return Decimal(self.running // timedelta(microseconds=1)) / Decimal(1_000_000)


def invoice_pump_basis(invoice: Invoice) -> PumpBasis | None:
    """The pump times behind an invoice tied to an infusion session, from the invoice's own frozen
    columns (no query beyond its location); None for an invoice without a session or without
    the times (a visit without a pump run, a package sale)."""
    if (
        invoice.infusion_session_id is None
        or invoice.infusion_started_at is None
        or invoice.infusion_stopped_at is None
        or invoice.infusion_running is None
    ):
        return None
    tz = invoice.location.tzinfo
    running = invoice.infusion_running
    span = invoice.infusion_stopped_at - invoice.infusion_started_at
    return PumpBasis(
        session_id=invoice.infusion_session_id,
        time_zone=tz.key,
        started_at=invoice.infusion_started_at.astimezone(tz),
        stopped_at=invoice.infusion_stopped_at.astimezone(tz),
        running=running,
        paused=max(span - running, timedelta(0)),
        codes=infusion_code_derivation(running),
    )


@dataclass(frozen=True)
class InvoiceFigures:
    subtotal: Decimal
    package_credit: Decimal
    total: Decimal
    paid: Decimal
    refunded: Decimal
    balance: Decimal


def invoice_figures(invoice: Invoice) -> InvoiceFigures:
    amounts = [
        line_amount(units=units, unit_price=price)
        for units, price in invoice.lines.values_list("units", "unit_price")
    ]
    sums = dict(
        invoice.payments.values_list("kind").annotate(s=Sum("amount")).values_list("kind", "s")
    )
    paid = cents(sums.get(PaymentKind.PAYMENT) or ZERO)
    refunded = cents(sums.get(PaymentKind.REFUND) or ZERO)
    total = invoice_total(line_amounts=amounts, package_credit=invoice.package_credit)
    return InvoiceFigures(
        subtotal=cents(sum(amounts, ZERO)),
        package_credit=cents(invoice.package_credit),
        total=total,
        paid=paid,
        refunded=refunded,
        balance=balance_due(total=total, paid=paid, refunded=refunded),
    )


def payment_refunded(payment: Payment) -> Decimal:
    return cents(payment.refunds.aggregate(s=Sum("amount"))["s"] or ZERO)


def package_sessions_left(purchase: PackagePurchase) -> int:
    return purchase.sessions_total - purchase.sessions_released - purchase.redemptions.count()


def invoices_visible_to(*, user: User) -> QuerySet[Invoice]:
    qs = Invoice.objects.filter(patient__in=patients_visible_to(user=user))
    if user.role != Role.PATIENT:
        qs = qs.filter(location__in=user.locations.all())
    return qs


def invoice_get_for_user(*, user: User, invoice_id: int) -> Invoice:
    invoice = (
        invoices_visible_to(user=user)
        .select_related("patient", "location", "appointment", "rendering_provider")
        .filter(pk=invoice_id)
        .first()
    )
    if invoice is None:
        raise denied(user, "billing.Invoice", invoice_id, "No such invoice.")
    return invoice


def payment_get_for_user(*, user: User, payment_id: int) -> Payment:
    payment = (
        Payment.objects.filter(invoice__in=invoices_visible_to(user=user), pk=payment_id)
        .select_related("invoice__patient", "invoice__location", "recorded_by")
        .first()
    )
    if payment is None:
        raise denied(user, "billing.Payment", payment_id, "No such payment.")
    return payment


def invoices_for_patient(*, user: User, patient: Patient) -> list[tuple[Invoice, InvoiceFigures]]:
    invoices = invoices_visible_to(user=user).filter(patient=patient).select_related("location")
    return [(invoice, invoice_figures(invoice)) for invoice in invoices]


@dataclass(frozen=True)
class AppointmentBilling:
    """Issue 21 point 7: what the appointment and session pages show of billing once the visit
    is completed: its invoice (with the superbill) or "Create invoice"."""

    appointment: Appointment
    invoice: Invoice | None
    can_bill: bool  # billing.manage (front desk, admin)
    one_click: bool  # an infusion with a session: the codes come from the pump alone
    superbills: bool  # CODE-PX-R3: the clinic issues superbills


def appointment_billing(
    *, user: User, appointment: Appointment | None
) -> AppointmentBilling | None:
    """For an appointment the caller's selector returned (already scoped to the user); None
    before it is completed."""
    from django.conf import settings

    from infusionclinic.accounts.roles import Perm

    if appointment is None or appointment.status != "completed":
        return None
    return AppointmentBilling(
        appointment=appointment,
        invoice=Invoice.objects.filter(appointment=appointment).first(),
        can_bill=user.has_role_perm(Perm.BILLING_MANAGE),
        one_click=appointment.kind == "infusion"
        and InfusionSession.objects.filter(appointment=appointment).exists(),
        superbills=settings.BILLING_ISSUE_SUPERBILLS,
    )
