"""CS-35, CS-34: moving whole sealed vials inside one registered location.

`transfer_internal` (the locked cabinet → a room cart) changes nothing at registrant level, so it
writes no ledger entry; it is its own insert-only record (`StorageTransfer`) with from/to, the
actor and the receiver's signature (another licensed user of the location, re-authenticated at
the moment, 🏥). `return_to_stock` is only for unopened vials taken out that way (CS-34): at most
the vials still out, never more than the lot's sealed vials, and the receiver confirms they are
sealed. A drawn dose never goes back (the database refuses it: `cs_dose_never_returns_to_stock`);
what is left of a dose is wasted (CS-33)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_role_perm

from .ledger import _check_location, _witness_check, balance_ml
from .models import Lot, StorageTransfer


def sealed_vials(lot: Lot) -> int:
    """Whole unopened vials of the lot: its balance less the open vial's remainder (CS-25)."""
    return int(balance_ml(lot) // lot.product.container_ml)


def vials_out(lot: Lot) -> int:
    """Vials taken out of the cabinet and not yet returned."""
    out = back = 0
    for containers, is_return in lot.transfers.values_list("containers", "is_return"):
        if is_return:
            back += containers
        else:
            out += containers
    return out - back


def storage_transfer_record(
    *,
    actor: User,
    lot: Lot,
    containers: int,
    place: str,
    receiver_email: str,
    receiver_secret: str,
    is_return: bool = False,
    sealed_confirmed: bool = False,
    occurred_at: datetime | None = None,
) -> StorageTransfer:
    """CS-35: `containers` sealed vials from the lot's cabinet (`lot.storage`) to `place`, or,
    with `is_return` (CS-34), from `place` back to the cabinet."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, lot.location)
    errors: dict[str, list[str]] = {}
    cabinet = (lot.storage or "").strip()
    place = (place or "").strip()[:120]
    if not cabinet:
        errors["lot"] = ["CS-9: record the lot's locked cabinet before moving its vials."]
    if not place or place == cabinet:
        errors["place"] = ["Name the place the vials go to (or come back from)."]
    if not isinstance(containers, int) or isinstance(containers, bool) or containers < 1:
        errors["containers"] = ["Whole sealed vials only: enter how many (CS-35)."]
    if is_return and not sealed_confirmed:
        errors["sealed_confirmed"] = [
            "CS-34: only unopened vials go back into stock; a drawn dose is wasted (CS-33)."
        ]
    if occurred_at is not None and occurred_at > timezone.now():
        errors["occurred_at"] = ["The event cannot be in the future."]
    if errors:
        raise ValidationError(errors)
    receiver = _witness_check(
        actor=actor,
        lot=lot,
        witness_email=receiver_email,
        witness_secret=receiver_secret,
        purpose="controlled.transfer",
        field="receiver",
    )
    with transaction.atomic():
        Lot.objects.select_for_update().filter(pk=lot.pk).first()
        sealed, out = sealed_vials(lot), vials_out(lot)
        if is_return:
            if containers > out:
                raise ValidationError(
                    {"containers": [f"CS-34: only {out} vial(s) of this lot are out to return."]}
                )
            if containers > sealed:
                raise ValidationError(
                    {"containers": [f"CS-34: the lot has only {sealed} unopened vial(s)."]}
                )
        elif containers > sealed - out:
            raise ValidationError(
                {"containers": [f"Only {max(sealed - out, 0)} sealed vial(s) are in {cabinet}."]}
            )
        transfer = StorageTransfer.objects.create(
            lot=lot,
            containers=containers,
            from_place=place if is_return else cabinet,
            to_place=cabinet if is_return else place,
            is_return=is_return,
            occurred_at=occurred_at or timezone.now(),
            actor=actor,
            receiver=receiver,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            obj=transfer,
            detail={
                "lot": lot.lot_number,
                "containers": containers,
                "from": transfer.from_place,
                "to": transfer.to_place,
                "return": is_return,
                "receiver": receiver.email,
            },
        )
    return transfer
