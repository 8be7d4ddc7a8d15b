"""CS-20: witnessed breakage or spill.

Breakage the registrant can account for is not a theft or loss: no DEA notice, no Form 106, no
`LossReport` (CS-13 does not apply). What could be recovered is inventory and leaves by Form 41
destruction with two witnesses or by a reverse distributor (CS-17: `compliance.destruction_record`,
`compliance.reverse_distributor_return_record`); what could not be recovered is documented here:
a `breakage` ledger entry taking the quantity out of stock, with what happened, witnessed by
another licensed user who re-authenticates at the moment (the product's CS-44 witness; the
database refuses an unwitnessed breakage). Breakage nobody saw is a loss (CS-38)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm
from infusionclinic.common.access import require_role_perm

from .ledger import _append, _check_location, _quantity_ml, _witness_check
from .models import EntryKind, LedgerEntry, Lot


def breakage_record(
    *,
    actor: User,
    lot: Lot,
    qty_ml: Any,
    circumstances: str,
    recoverable: bool,
    witness_email: str,
    witness_secret: str,
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """CS-20: a witnessed breakage/spill of `qty_ml` of `lot` that cannot be recovered."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, lot.location)
    if recoverable:
        raise ValidationError(
            {
                "recoverable": [
                    "CS-20: recoverable drug from a breakage is inventory: destroy it on Form 41 "
                    "with two witnesses or return it to a reverse distributor (CS-17)."
                ]
            }
        )
    if not (circumstances or "").strip():
        raise ValidationError(
            {"circumstances": ["CS-20: document what broke or spilled, how and where."]}
        )
    qty = _quantity_ml(qty_ml)
    witness = _witness_check(
        actor=actor,
        lot=lot,
        witness_email=witness_email,
        witness_secret=witness_secret,
        purpose="controlled.breakage",
    )
    with transaction.atomic():
        return _append(
            actor=actor,
            lot=lot,
            kind=EntryKind.BREAKAGE,
            qty_ml=qty,
            delta_ml=-qty,
            occurred_at=occurred_at,
            witness=witness,
            reason=f"CS-20 breakage (not recoverable, not a loss): {circumstances.strip()}",
            audit_extra={"breakage": True, "loss_report": None},
        )
