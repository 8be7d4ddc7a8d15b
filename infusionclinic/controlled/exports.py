"""CSV exports (audited): the biennial/ad hoc inventory (CS-10, CS-11, R3) and the theft/loss data
pack for DEA Form 106 (CS-13, R5)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record

from .models import EntryKind, LedgerEntry, Lot
from .services import _require, balance_ml

INVENTORY_HEADER = [
    "location",
    "taken_at_utc",
    "opening_or_close",
    "schedule",
    "ndc",
    "ndc11",
    "name",
    "dosage_form",
    "strength_mg_per_ml",
    "container_ml",
    "lot",
    "expiry",
    "full_containers",
    "partial_ml",
    "total_ml",
    "total_mg",
    "signed_by",
]
LOSS_HEADER = [
    "location",
    "address",
    "discovered_at_utc",
    "dea_notice_due",
    "form106_due",
    "losses_past_24_months",
    "ndc",
    "lot",
    "name",
    "strength_mg_per_ml",
    "dosage_form",
    "full_containers",
    "partial_ml",
    "qty_ml",
    "qty_mg",
    "circumstances",
    "recorded_by",
]


def _containers(total_ml: Decimal, container_ml: Decimal) -> tuple[int, Decimal]:
    full = int(total_ml // container_ml)
    return full, total_ml - container_ml * full


def _write(header: list[str], rows: list[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def inventory_csv(*, actor: User, location: Location, opening_or_close: str) -> str:
    """CS-11: per lot the product's name, form, strength, container volume and the number of
    containers (full + partial mL), with the date and the opening/close-of-business flag.
    Schedule III only (this log holds ketamine, CS-1)."""
    _require(actor, Perm.CS_EXPORT)
    if opening_or_close not in ("opening", "close"):
        opening_or_close = "close"
    taken = timezone.now()
    rows = []
    for lot in Lot.objects.filter(location=location).select_related("product"):
        total = balance_ml(lot)
        product = lot.product
        full, partial = _containers(total, product.container_ml)
        rows.append(
            [
                location.name,
                taken.isoformat(),
                opening_or_close,
                product.schedule,
                product.ndc,
                product.ndc11,
                product.name,
                product.dosage_form,
                product.strength_mg_per_ml,
                product.container_ml,
                lot.lot_number,
                lot.expiry.isoformat(),
                full,
                partial,
                total,
                total * product.strength_mg_per_ml,
                actor.email,
            ]
        )
    audit_record(
        actor=actor,
        action=AuditAction.EXPORT,
        obj=location,
        detail={"report": "cs_inventory", "lots": len(rows), "opening_or_close": opening_or_close},
    )
    return _write(INVENTORY_HEADER, rows)


def _business_day_after(moment: datetime) -> str:
    day = moment.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.isoformat()


def loss_pack_csv(*, actor: User, location: Location) -> str:
    """R5: each theft/loss entry with what Form 106 asks for; CS-13's deadlines (written notice
    within 1 business day of discovery — weekends skipped, holidays not known here — and Form 106
    within 45 days) and the number of losses in the 24 months before it."""
    _require(actor, Perm.CS_EXPORT)
    losses = list(
        LedgerEntry.objects.filter(lot__location=location, kind=EntryKind.LOSS)
        .select_related("lot__product", "actor")
        .order_by("occurred_at", "pk")
    )
    rows = []
    for entry in losses:
        product = entry.lot.product
        full, partial = _containers(entry.qty_ml, product.container_ml)
        window_start = entry.occurred_at - timedelta(days=730)
        prior = sum(1 for e in losses if window_start <= e.occurred_at < entry.occurred_at)
        rows.append(
            [
                location.name,
                location.address,
                entry.occurred_at.isoformat(),
                _business_day_after(entry.occurred_at),
                (entry.occurred_at + timedelta(days=45)).date().isoformat(),
                prior,
                product.ndc,
                entry.lot.lot_number,
                product.name,
                product.strength_mg_per_ml,
                product.dosage_form,
                full,
                partial,
                entry.qty_ml,
                entry.qty_mg,
                entry.reason,
                entry.actor.email,
            ]
        )
    audit_record(
        actor=actor,
        action=AuditAction.EXPORT,
        obj=location,
        detail={"report": "cs_theft_loss", "losses": len(rows)},
    )
    return _write(LOSS_HEADER, rows)
