"""The ledger's primitives (controlled-substances.md §4-§6): quantities, balances, the witness
check (CS-44) and the append-only write (CS-41, CS-45, CS-48). Every ledger module (services,
compliance, transfers, breakage, exports, records) builds on these; this module imports none of
them, so none of them imports another to reach these (issue 22 point 10: the services ⇄
compliance circle)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.services import user_reauthenticate
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_at_location

from . import conf
from .models import LedgerEntry, Lot

ML_STEP = Decimal("0.01")
NDC_RE = re.compile(r"^(\d{4}-\d{4}-\d{2}|\d{5}-\d{3}-\d{2}|\d{5}-\d{4}-\d)$")


def _quantity_ml(value: Any, field: str = "qty_ml") -> Decimal:
    try:
        qty = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({field: ["Enter a number of mL."]}) from exc
    if not qty.is_finite() or qty <= 0 or qty != qty.quantize(ML_STEP) or qty >= 10**8:
        raise ValidationError({field: ["Enter a positive quantity in mL (at most 2 decimals)."]})
    return qty


def ndc11(ndc: str) -> str:
    """CS-24: the 11-digit 5-4-2 billing form, zero-padding the short segment of the printed form;
    an unhyphenated string is refused (its segments cannot be inferred)."""
    if not NDC_RE.match(ndc):
        raise ValidationError({"ndc": ["Enter the NDC as printed: 4-4-2, 5-3-2 or 5-4-1."]})
    a, b, c = ndc.split("-")
    return f"{a.zfill(5)}-{b.zfill(4)}-{c.zfill(2)}"


def balance_ml(lot: Lot) -> Decimal:
    last = lot.entries.order_by("-seq").values_list("balance_after_ml", flat=True).first()
    return last if last is not None else Decimal("0.00")


def dose_remaining_ml(draw: LedgerEntry) -> Decimal:
    """CS-43: drawn − administered − wasted − corrected for this dose."""
    # Summed in Python: SQLite's SUM of decimals is a float, and this must be exact (CS-43).
    used = sum(draw.dose_entries.values_list("qty_ml", flat=True), Decimal(0))
    return draw.qty_ml - used


def _past_or_now(at: datetime | None) -> datetime:
    """A time for a record entered late (the demo's history): default now, never ahead."""
    now = timezone.now()
    if at is None:
        return now
    if timezone.is_naive(at) or at > now:
        raise ValidationError({"at": ["Give a past time with its time zone."]})
    return at


def _check_location(actor: User, location: Location) -> None:
    require_at_location(actor, location)


def _witness_check(
    *,
    actor: User,
    lot: Lot | None = None,
    location: Location | None = None,
    witness_email: str,
    witness_secret: str,
    purpose: str,
    field: str = "witness",
) -> User:
    """CS-44: another active user in a licensed role at this location, re-authenticated now.
    `field` names the form fields the errors belong to (`<field>_email`, `<field>_secret`)."""
    location_id = lot.location_id if lot is not None else location.pk  # type: ignore[union-attr]
    email_field, secret_field = f"{field}_email", f"{field}_secret"
    witness = User.objects.filter(email__iexact=(witness_email or "").strip()).first()
    if witness is None or not witness.is_active:
        raise ValidationError({email_field: ["No such active user."]})
    if witness.pk == actor.pk:
        raise ValidationError({email_field: ["The witness must be another person (CS-44)."]})
    if witness.role not in conf.witness_roles():
        raise ValidationError({email_field: ["The witness must be a licensed user (CS-44)."]})
    if not witness.locations.filter(pk=location_id).exists():
        raise ValidationError({email_field: ["The witness does not work at this location."]})
    if not user_reauthenticate(user=witness, secret=witness_secret, purpose=purpose):
        raise ValidationError({secret_field: ["The witness's password or code is wrong."]})
    return witness


def _append(
    *,
    actor: User,
    lot: Lot,
    kind: str,
    qty_ml: Decimal,
    delta_ml: Decimal,
    occurred_at: datetime | None,
    patient: Any = None,
    audit_extra: dict[str, Any] | None = None,
    **fields: Any,
) -> LedgerEntry:
    """Append under the lot's row lock. The caller holds the transaction."""
    Lot.objects.select_for_update().filter(pk=lot.pk).first()
    last = lot.entries.order_by("-seq").values_list("seq", "balance_after_ml").first()
    seq, balance = last if last is not None else (0, Decimal("0.00"))
    after = balance + delta_ml
    if after < 0:  # CS-41: a hard stop
        raise ValidationError(
            {"qty_ml": [f"Only {balance} mL of lot {lot.lot_number} is on hand (CS-41)."]}
        )
    now = timezone.now()
    if occurred_at is not None and occurred_at > now:
        raise ValidationError({"occurred_at": ["The event cannot be in the future."]})
    concentration = lot.product.strength_mg_per_ml
    entry = LedgerEntry.objects.create(
        lot=lot,
        seq=seq + 1,
        kind=kind,
        qty_ml=qty_ml,
        concentration_mg_per_ml=concentration,
        qty_mg=qty_ml * concentration,  # CS-48
        delta_ml=delta_ml,
        balance_after_ml=after,
        occurred_at=occurred_at or now,
        actor=actor,
        patient=patient,
        **fields,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=entry,
        detail={
            "kind": kind,
            "lot": lot.lot_number,
            "location": lot.location.code,
            "qty_ml": str(qty_ml),
            "balance_after_ml": str(after),
            "witness": entry.witness.email if entry.witness else "",
            **(audit_extra or {}),
        },
    )
    return entry
