"""Pure invoice arithmetic. Decimal only; rounded half-up to the cent."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal | int | str) -> Decimal:
    """Round half-up to the cent. Refuses floats: binary fractions are not money."""
    if isinstance(value, float):
        raise TypeError("Money is Decimal, never float.")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def line_amount(*, units: int, unit_price: Decimal) -> Decimal:
    return cents(Decimal(units) * unit_price)


def invoice_total(*, line_amounts: Iterable[Decimal], package_credit: Decimal) -> Decimal:
    """Sum of the lines minus the package credit; a credit never takes the total below zero."""
    subtotal = sum((cents(a) for a in line_amounts), ZERO)
    return max(ZERO, cents(subtotal - cents(package_credit)))


def balance_due(*, total: Decimal, paid: Decimal, refunded: Decimal) -> Decimal:
    """What the patient still owes: total - payments + refunds."""
    return cents(total - paid + refunded)
