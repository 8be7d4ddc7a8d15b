"""Issue 19: the day's card payments and refunds recorded here against Stripe's balance
transactions, with each difference named. Stripe's account is the clinic's, so the processor side
is the whole account; the day runs midnight to midnight in the chosen location's time zone."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import stripe
from django.core.exceptions import PermissionDenied, ValidationError

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_at_location
from infusionclinic.common.spreadsheet import csv_safe

from .models import Deposit, Payment, PaymentKind
from .online import PROVIDER, _client, _from_cents

PAGE = 100


@dataclass(frozen=True)
class Row:
    key: str  # the payment intent (a payment) or the refund id
    kind: str  # payment / refund
    ours: Decimal | None
    theirs: Decimal | None
    payment: Payment | None
    balance_transaction: str

    @property
    def problem(self) -> str:
        if self.ours is None:
            return "At Stripe, not recorded here"
        if self.theirs is None:
            return "Recorded here, not at Stripe"
        if self.ours != self.theirs:
            return f"Amounts differ by {abs(self.ours - self.theirs)}"
        return ""


@dataclass(frozen=True)
class Reconciliation:
    day: date
    location: Location
    rows: list[Row]

    @property
    def differences(self) -> list[Row]:
        return [r for r in self.rows if r.problem]

    def _net(self, side: str) -> Decimal:
        signed = (
            (getattr(r, side) or Decimal("0")) * (1 if r.kind == PaymentKind.PAYMENT else -1)
            for r in self.rows
        )
        return sum(signed, Decimal("0.00"))

    @property
    def total_ours(self) -> Decimal:
        return self._net("ours")

    @property
    def total_theirs(self) -> Decimal:
        return self._net("theirs")


def _theirs(start: datetime, end: datetime) -> dict[str, tuple[str, Decimal, str]]:
    """Stripe's balance transactions of the window, by payment intent (charges) or refund id."""
    found: dict[str, tuple[str, Decimal, str]] = {}
    params: dict = {
        "created": {"gte": int(start.timestamp()), "lt": int(end.timestamp())},
        "limit": PAGE,
        "expand": ["data.source"],
    }
    try:
        while True:
            page = _client().v1.balance_transactions.list(params=params)
            for txn in page.data:
                source = txn.source
                if txn.type in {"charge", "payment"}:
                    key, kind = source["payment_intent"], PaymentKind.PAYMENT
                elif txn.type in {"refund", "payment_refund"}:
                    key, kind = source["id"], PaymentKind.REFUND
                else:
                    continue
                _, amount, _ = found.get(key, (kind, Decimal("0.00"), txn.id))
                found[key] = (kind, amount + abs(_from_cents(txn.amount)), txn.id)
            if not page.has_more:
                return found
            params = {**params, "starting_after": page.data[-1].id}
    except stripe.StripeError as error:
        raise ValidationError(f"Stripe did not answer: {error.user_message or error}") from error


def reconciliation_day(*, actor: User, location: Location, day: date) -> Reconciliation:
    """Admins of the location: every Stripe payment and refund recorded here on `day` beside
    Stripe's own record of the day."""
    if actor.role != Role.ADMIN or not actor.has_role_perm(Perm.BILLING_MANAGE):
        raise PermissionDenied
    require_at_location(actor, location)
    tz = location.tzinfo
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    ours = {
        p.reference: p
        for p in Payment.objects.filter(
            provider=PROVIDER, recorded_at__gte=start, recorded_at__lt=end
        ).select_related("invoice__location")
    }
    # Issue 19: a deposit paid online is money received that day, before the visit's invoice
    # exists (it then becomes a payment on the invoice, dated when it was paid).
    deposits = Deposit.objects.filter(
        paid_at__gte=start, paid_at__lt=end, applied_payment__isnull=True
    ).exclude(payment_intent_id="")
    held = {d.payment_intent_id: d.amount for d in deposits}
    deposit_refunds = {
        d.refund_id: d.amount
        for d in Deposit.objects.filter(refunded_at__gte=start, refunded_at__lt=end).exclude(
            refund_id=""
        )
    }
    theirs = _theirs(start, end)
    rows = []
    for key in sorted(set(ours) | set(theirs) | set(held) | set(deposit_refunds)):
        payment = ours.get(key)
        default = PaymentKind.REFUND if key in deposit_refunds else PaymentKind.PAYMENT
        kind, amount, txn = theirs.get(key, (payment.kind if payment else default, None, ""))
        rows.append(
            Row(
                key=key,
                kind=payment.kind if payment else kind,
                ours=payment.amount if payment else held.get(key, deposit_refunds.get(key)),
                theirs=amount,
                payment=payment,
                balance_transaction=txn,
            )
        )
    audit_record(
        actor=actor,
        action=AuditAction.VIEW,
        obj=location,
        detail={"page": "stripe_reconciliation", "day": day.isoformat(), "rows": len(rows)},
    )
    return Reconciliation(day=day, location=location, rows=rows)


def reconciliation_csv(report: Reconciliation, *, user: User) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "day",
            "kind",
            "stripe_reference",
            "balance_transaction",
            "invoice",
            "ours",
            "stripe",
            "difference",
        ]
    )
    mine = set(user.locations.values_list("pk", flat=True))
    for row in report.rows:
        invoice = ""
        if row.payment and row.payment.invoice.location_id in mine:
            invoice = row.payment.invoice.number
        writer.writerow(
            [
                csv_safe(str(v))
                for v in (
                    report.day.isoformat(),
                    row.kind,
                    row.key,
                    row.balance_transaction,
                    invoice,
                    row.ours if row.ours is not None else "",
                    row.theirs if row.theirs is not None else "",
                    row.problem,
                )
            ]
        )
    return out.getvalue()
