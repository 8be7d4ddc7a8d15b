"""CS-25: the beyond-use date of an opened multiple-dose vial.

The ledger is kept per lot (§4 `LedgerEntry`), not per vial, so the lot's open vial is read from
its entries: whatever of the lot's balance is not a whole number of vials is in the one punctured
vial, and that vial was first punctured by the draw that took more than the previous open vial
held (or that started on whole vials). Its beyond-use date is that draw's time plus
`conf.mdv_bud_days()` (⚠️ default 28), never later than the lot's expiry. A draw from a lot whose
open vial is past its beyond-use date is refused (CS-31): its remainder is inventory to destroy on
Form 41 or return to a reverse distributor first (CS-17, CS-21)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from . import conf
from .models import EntryKind, Lot


@dataclass(frozen=True)
class OpenVial:
    lot_id: int
    remaining_ml: Decimal
    first_punctured_at: datetime | None  # None: the puncture predates the lot's entries
    beyond_use_at: datetime | None

    def past_bud(self, at: datetime) -> bool:
        return self.beyond_use_at is not None and at >= self.beyond_use_at


def open_vial(lot: Lot) -> OpenVial | None:
    """CS-25: the lot's punctured vial (its remaining mL and first puncture), or None when the
    lot holds only sealed vials. Reads back from the newest entry to the draw that punctured."""
    container = lot.product.container_ml
    rows = lot.entries.order_by("-seq").values_list(
        "kind", "qty_ml", "delta_ml", "balance_after_ml", "occurred_at"
    )
    remaining: Decimal | None = None
    punctured: datetime | None = None
    newer: datetime | None = None
    for kind, qty, delta, after, occurred in rows.iterator(chunk_size=200):
        if remaining is None:
            remaining = after % container
            if remaining == 0:
                return None
        elif after % container == 0:
            # Only whole vials after this entry and no draw opened one since: the newer entry
            # (a correction, a partial loss) left the partial vial; date the opening from it.
            punctured = newer
            break
        before_open = (after - delta) % container
        if kind == EntryKind.DRAW and (before_open == 0 or qty > before_open):
            punctured = occurred
            break
        newer = occurred
    if remaining is None:
        return None
    bud = None
    if punctured is not None:
        bud = punctured + timedelta(days=conf.mdv_bud_days())
        expiry_end = datetime.combine(lot.expiry, time.max, tzinfo=lot.location.tzinfo)
        bud = min(bud, expiry_end + timedelta(microseconds=1))
    return OpenVial(
        lot_id=lot.pk, remaining_ml=remaining, first_punctured_at=punctured, beyond_use_at=bud
    )


def bud_check(lot: Lot, *, at: datetime | None = None) -> None:
    """CS-25, CS-31: refuse a draw from a lot whose open vial is past its beyond-use date."""
    vial = open_vial(lot)
    at = at or timezone.now()
    if vial is not None and vial.past_bud(at):
        tz = lot.location.tzinfo
        raise ValidationError(
            {
                "lot": [
                    f"CS-25: the open vial of lot {lot.lot_number} was first punctured "
                    f"{vial.first_punctured_at.astimezone(tz):%Y-%m-%d %H:%M}; its beyond-use "
                    f"date ({conf.mdv_bud_days()} days) has passed. Destroy its remainder "
                    f"({vial.remaining_ml} mL) on Form 41 or return it to a reverse distributor "
                    "(CS-17, CS-21) before drawing from this lot again."
                ]
            }
        )
