"""The controlled-substance records on their own (CS-2, CS-3, CS-6, CS-47; R1, R4).

An infusion clinic administers ketamine and charges for it, so it keeps the full records (CS-2):
every quantity received, delivered or otherwise disposed of, on a current basis (CS-3). They are
kept apart from the clinical record so that they are readily retrievable (CS-6): each report here
runs for one registered location (CS-4: one DEA registration each) and a date range of the event
(the day it physically happened, CS-5), reading only this app's tables — plus, for the
administration log, the patient's name and address that 1304.22(c) asks for (§4
`Administration`). Every row shows until when it is kept (CS-7, CS-46). Exports are audited;
the administration log also once per patient whose name it shows.

- `running_balance` (R1, CS-3 🏥): every ledger line with the balance before and after, mL and mg.
- `receipts`, `administrations`, `wastes`, `destructions`, `breakage` (R4)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_role_perm
from infusionclinic.common.spreadsheet import csv_safe_row

from . import compliance, retention
from .models import EntryKind, LedgerEntry, StorageTransfer

COMMON = ["registrant", "dea_number", "location", "ndc", "name", "strength_mg_per_ml", "lot"]
HEADERS: dict[str, list[str]] = {
    "running_balance": [
        *COMMON,
        "seq",
        "kind",
        "occurred_at_utc",
        "recorded_at_utc",
        "late_entry",
        "qty_ml",
        "qty_mg",
        "balance_before_ml",
        "balance_after_ml",
        "balance_before_mg",
        "balance_after_mg",
        "actor",
        "witness",
        "reason",
        "kept_until",
    ],
    "receipts": [
        *COMMON,
        "received_on",
        "supplier",
        "supplier_dea",
        "invoice_number",
        "containers",
        "qty_ml",
        "qty_mg",
        "received_by",
        "kept_until",
    ],
    "administrations": [
        *COMMON,
        "administered_on",
        "patient_name",
        "patient_address",
        "qty_ml",
        "qty_mg",
        "administered_by",
        "kept_until",
    ],
    "wastes": [
        *COMMON,
        "wasted_on",
        "qty_ml",
        "qty_mg",
        "wasted_by",
        "witness",
        "reason",
        "kept_until",
    ],
    "destructions": [
        *COMMON,
        "destroyed_on",
        "kind",
        "record",
        "qty_ml",
        "qty_mg",
        "actor",
        "witness_1",
        "witness_2",
        "reason",
        "kept_until",
    ],
    "breakage": [
        *COMMON,
        "broken_on",
        "qty_ml",
        "qty_mg",
        "recorded_by",
        "witness",
        "circumstances",
        "kept_until",
    ],
    "transfers": [
        *COMMON,
        "moved_on",
        "containers",
        "from_place",
        "to_place",
        "return_to_stock",
        "actor",
        "receiver",
        "kept_until",
    ],
}
KINDS: dict[str, tuple[str, ...] | None] = {
    "running_balance": None,
    "receipts": (EntryKind.RECEIPT,),
    "administrations": (EntryKind.ADMINISTRATION,),
    "wastes": (EntryKind.WASTE,),
    "destructions": (EntryKind.DESTRUCTION, EntryKind.RETURN),
    "breakage": (EntryKind.BREAKAGE,),
    "transfers": (),  # CS-35: not ledger entries (`StorageTransfer`)
}


def _entries(
    location: Location, kinds: tuple[str, ...] | None, date_from: date, date_to: date
) -> QuerySet[LedgerEntry]:
    tz = location.tzinfo
    start = datetime.combine(date_from, time.min, tzinfo=tz)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz)
    qs = LedgerEntry.objects.filter(
        lot__location=location, occurred_at__gte=start, occurred_at__lt=end
    ).select_related("lot__product", "actor", "witness", "second_witness")
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    return qs.order_by("lot__product__ndc", "lot__lot_number", "seq")


def _transfer_rows(registration, location: Location, date_from: date, date_to: date):  # type: ignore[no-untyped-def]
    """CS-35: the internal moves of sealed vials (cabinet ↔ room cart)."""
    tz = location.tzinfo
    start = datetime.combine(date_from, time.min, tzinfo=tz)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz)
    transfers = (
        StorageTransfer.objects.filter(
            lot__location=location, occurred_at__gte=start, occurred_at__lt=end
        )
        .select_related("lot__product", "actor", "receiver")
        .order_by("occurred_at", "pk")
    )
    rows: list[list[object]] = []
    for t in transfers:
        product = t.lot.product
        kept = retention.kept_until(t)
        rows.append(
            [
                registration.registrant_name if registration else "",
                registration.dea_number if registration else "",
                location.name,
                product.ndc,
                product.name,
                product.strength_mg_per_ml,
                t.lot.lot_number,
                t.occurred_at.astimezone(tz).date().isoformat(),
                t.containers,
                t.from_place,
                t.to_place,
                "yes" if t.is_return else "no",
                _who(t.actor),
                _who(t.receiver),
                kept.isoformat() if kept else "",
            ]
        )
    return rows


def _who(user: User | None) -> str:
    return "" if user is None else user.email


def _address(patient) -> str:  # type: ignore[no-untyped-def]
    parts = [
        patient.address_line1,
        patient.address_line2,
        patient.city,
        " ".join(p for p in (patient.region, patient.postal_code) if p),
        patient.country,
    ]
    return ", ".join(p for p in parts if p)


def records_csv(
    *, actor: User, location: Location, report: str, date_from: date, date_to: date
) -> str:
    """CS-47: one report of HEADERS for one registered location and a date range (inclusive, in
    the location's time zone)."""
    require_role_perm(actor, Perm.CS_EXPORT)
    if report not in HEADERS:
        raise ValidationError({"report": ["Choose one of: " + ", ".join(HEADERS) + "."]})
    if date_from > date_to:
        raise ValidationError({"date_from": ["The range starts after it ends."]})
    registration = compliance.registration_current(location=location)
    tz = location.tzinfo
    entries = _entries(location, KINDS[report], date_from, date_to)
    if report == "transfers":
        entries = entries.none()
    if report == "administrations":
        entries = entries.select_related("patient")
    rows: list[list[object]] = []
    patients: dict[int, object] = {}
    for e in entries:
        product = e.lot.product
        conc = e.concentration_mg_per_ml
        common = [
            registration.registrant_name if registration else "",
            registration.dea_number if registration else "",
            location.name,
            product.ndc,
            product.name,
            product.strength_mg_per_ml,
            e.lot.lot_number,
        ]
        day = e.occurred_at.astimezone(tz).date().isoformat()
        kept = retention.kept_until(e)
        if report == "running_balance":
            before = e.balance_after_ml - e.delta_ml
            row = [
                e.seq,
                e.kind,
                e.occurred_at.isoformat(),
                e.recorded_at.isoformat(),
                "yes" if e.is_late else "no",
                e.qty_ml,
                e.qty_mg,
                before,
                e.balance_after_ml,
                before * conc,
                e.balance_after_ml * conc,
                _who(e.actor),
                _who(e.witness),
                e.reason,
            ]
        elif report == "receipts":
            row = [
                day,
                e.supplier,
                e.supplier_dea,
                e.invoice_number,
                int(e.qty_ml // product.container_ml),
                e.qty_ml,
                e.qty_mg,
                _who(e.actor),
            ]
        elif report == "administrations":
            patients[e.patient_id] = e.patient
            row = [
                day,
                e.patient.legal_name if e.patient else "",
                _address(e.patient) if e.patient else "",
                e.qty_ml,
                e.qty_mg,
                e.actor.full_name or e.actor.email,
            ]
        elif report == "wastes":
            row = [day, e.qty_ml, e.qty_mg, _who(e.actor), _who(e.witness), e.reason]
        elif report == "destructions":
            row = [
                day,
                e.kind,
                e.destruction_id or "",
                e.qty_ml,
                e.qty_mg,
                _who(e.actor),
                _who(e.witness),
                _who(e.second_witness),
                e.reason,
            ]
        else:  # breakage
            row = [day, e.qty_ml, e.qty_mg, _who(e.actor), _who(e.witness), e.reason]
        rows.append([*common, *row, kept.isoformat() if kept else ""])
    if report == "transfers":
        rows = _transfer_rows(registration, location, date_from, date_to)
    detail = {
        "report": f"cs_records_{report}",
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "lines": len(rows),
    }
    audit_record(actor=actor, action=AuditAction.EXPORT, obj=location, detail=detail)
    for patient in patients.values():
        audit_record(
            actor=actor, action=AuditAction.EXPORT, patient=patient, obj=location, detail=detail
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS[report])
    writer.writerows(csv_safe_row(row) for row in rows)
    return out.getvalue()
