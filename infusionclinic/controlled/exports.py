"""CSV exports (audited): the biennial/ad hoc inventory (CS-10, CS-11, R3), the theft/loss data
pack for DEA Form 106 with the draft written notice (CS-13, R5), and the DEA Form 41 data of an
on-site destruction (CS-18)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_role_perm
from infusionclinic.common.spreadsheet import csv_safe_row

from . import compliance
from .ledger import balance_ml
from .models import Destruction, DestructionKind, LossReport, Lot

INVENTORY_HEADER = [
    "registrant",
    "dea_number",
    "location",
    "taken_at_utc",
    "inventory_type",
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
    "report",
    "registrant",
    "dea_number",
    "address",
    "phone",
    "county",
    "principal_business",
    "location",
    "discovered_at_utc",
    "loss_type",
    "dea_notice_due",
    "dea_notice_sent_at_utc",
    "form106_due",
    "form106_submitted_at_utc",
    "form106_reference",
    "losses_past_24_months",
    "police_notified",
    "police_department",
    "police_phone",
    "purchase_value_usd",
    "carrier",
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
FORM41_HEADER = [
    "record",
    "registrant",
    "dea_number",
    "address",
    "phone",
    "contact",
    "ndc",
    "lot",
    "name",
    "strength_mg_per_ml",
    "dosage_form",
    "package_quantity_ml",
    "full_packages",
    "partial_package_ml",
    "total_destroyed_ml",
    "total_destroyed_mg",
    "destroyed_on",
    "method",
    "place",
    "witness_1",
    "witness_1_signed_at_utc",
    "witness_2",
    "witness_2_signed_at_utc",
]


def _containers(total_ml: Decimal, container_ml: Decimal) -> tuple[int, Decimal]:
    full = int(total_ml // container_ml)
    return full, total_ml - container_ml * full


def _write(header: list[str], rows: list[list[object]]) -> str:
    """Text cells (names, lot numbers, addresses, circumstances typed by people) are made
    formula-safe like every other export (issue 22 point 3); numbers stay numbers."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(csv_safe_row(row) for row in rows)
    return out.getvalue()


INVENTORY_TYPES = ("initial", "biennial", "ad_hoc")  # CS-10, R3


def inventory_csv(
    *, actor: User, location: Location, opening_or_close: str, inventory_type: str = "biennial"
) -> str:
    """CS-11: per lot the product's name, form, strength, container volume and the number of
    containers (full + partial mL), with the date and the opening/close-of-business flag.
    Schedule III only (this log holds ketamine, CS-1)."""
    require_role_perm(actor, Perm.CS_EXPORT)
    if opening_or_close not in ("opening", "close"):
        opening_or_close = "close"
    if inventory_type not in INVENTORY_TYPES:
        inventory_type = "biennial"
    taken = timezone.now()
    registration = compliance.registration_current(location=location)
    rows = []
    for lot in Lot.objects.filter(location=location).select_related("product"):
        total = balance_ml(lot)
        product = lot.product
        full, partial = _containers(total, product.container_ml)
        rows.append(
            [
                registration.registrant_name if registration else "",
                registration.dea_number if registration else "",
                location.name,
                taken.isoformat(),
                inventory_type,
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
        detail={
            "report": "cs_inventory",
            "lots": len(rows),
            "opening_or_close": opening_or_close,
            "inventory_type": inventory_type,
        },
    )
    return _write(INVENTORY_HEADER, rows)


def loss_pack_csv(*, actor: User, location: Location) -> str:
    """R5: per theft/loss report and item, what Form 106 asks for: the registrant (name, DEA no.,
    address, phone, county, principal business), discovery, type, police, purchase value,
    carrier, the items (NDC, lot, name, strength, form, containers + partial mL), the number of
    thefts/losses in the 24 months before, and CS-13's deadlines with what was done."""
    require_role_perm(actor, Perm.CS_EXPORT)
    reports = sorted(compliance.loss_reports_at(location=location), key=lambda r: r.discovered_at)
    rows = []
    for report in reports:
        reg = report.registration or compliance.registration_current(location=location)
        deadlines = compliance.loss_deadlines(report)
        window_start = report.discovered_at - timedelta(days=730)
        prior = sum(1 for r in reports if window_start <= r.discovered_at < report.discovered_at)
        for entry in report.entries.all():
            product = entry.lot.product
            full, partial = _containers(entry.qty_ml, product.container_ml)
            rows.append(
                [
                    report.pk,
                    reg.registrant_name if reg else "",
                    reg.dea_number if reg else "",
                    reg.address if reg else location.address,
                    reg.phone if reg else "",
                    reg.county if reg else "",
                    reg.principal_business if reg else "",
                    location.name,
                    report.discovered_at.isoformat(),
                    report.get_loss_type_display(),
                    deadlines.notice_due.date().isoformat(),
                    _iso(report.dea_notice_sent_at),
                    deadlines.form106_due.date().isoformat(),
                    _iso(report.form106_submitted_at),
                    report.form106_reference,
                    prior,
                    "yes" if report.police_notified else "no",
                    report.police_department,
                    report.police_phone,
                    "" if report.purchase_value is None else report.purchase_value,
                    report.carrier,
                    product.ndc,
                    entry.lot.lot_number,
                    product.name,
                    product.strength_mg_per_ml,
                    product.dosage_form,
                    full,
                    partial,
                    entry.qty_ml,
                    entry.qty_mg,
                    report.circumstances,
                    report.opened_by.email,
                ]
            )
    audit_record(
        actor=actor,
        action=AuditAction.EXPORT,
        obj=location,
        detail={"report": "cs_theft_loss", "reports": len(reports), "lines": len(rows)},
    )
    return _write(LOSS_HEADER, rows)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def loss_notice_draft(*, actor: User, report: LossReport) -> str:
    """R5: a draft of the written notice to the DEA Field Division Office (CS-13: within 1
    business day of discovery), for the registrant to check, sign and send."""
    require_role_perm(actor, Perm.CS_EXPORT)
    reg = report.registration or compliance.registration_current(location=report.location)
    deadlines = compliance.loss_deadlines(report)
    tz = report.location.tzinfo
    items = "\n".join(
        f"  - {e.lot.product.name} {e.lot.product.strength_mg_per_ml} mg/mL "
        f"{e.lot.product.dosage_form}, NDC {e.lot.product.ndc}, lot {e.lot.lot_number}: "
        f"{e.qty_ml} mL ({e.qty_mg} mg)"
        for e in report.entries.select_related("lot__product")
    )
    body = (
        "To: DEA Diversion Field Division Office\n"
        f"From: {reg.registrant_name if reg else '[registrant]'}, DEA registration "
        f"{reg.dea_number if reg else '[DEA number]'}\n"
        f"Address: {reg.address if reg else report.location.address}\n\n"
        "Written notice of theft or significant loss of controlled substances "
        "(21 CFR 1301.76(b)).\n"
        f"Discovered: {report.discovered_at.astimezone(tz):%Y-%m-%d %H:%M %Z}\n"
        f"Type: {report.get_loss_type_display()}\n"
        f"Police notified: {'yes, ' + report.police_department if report.police_notified else 'no'}"
        "\n"
        f"Items:\n{items}\n"
        f"Circumstances: {report.circumstances}\n\n"
        f"This notice is due by {deadlines.notice_due:%Y-%m-%d} (1 business day); DEA Form 106 "
        f"follows online by {deadlines.form106_due.astimezone(tz):%Y-%m-%d} (45 days).\n"
    )
    audit_record(
        actor=actor,
        action=AuditAction.EXPORT,
        obj=report,
        detail={"report": "cs_loss_notice_draft"},
    )
    return body


def form41_csv(*, actor: User, destruction: Destruction) -> str:
    """CS-18: DEA Form 41's data for one on-site destruction: registrant, per line the NDC,
    lot, name, strength, form, package quantity, full packages, partial package and total
    destroyed; date, method and place; both witnesses and when they signed (re-authenticated)."""
    require_role_perm(actor, Perm.CS_EXPORT)
    if destruction.kind != DestructionKind.ON_SITE:
        raise ValidationError({"destruction": ["Form 41 is for on-site destruction only."]})
    reg = destruction.registration or compliance.registration_current(location=destruction.location)
    tz = destruction.location.tzinfo
    rows = []
    for entry in destruction.entries.select_related("lot__product"):
        product = entry.lot.product
        full, partial = _containers(entry.qty_ml, product.container_ml)
        rows.append(
            [
                destruction.pk,
                reg.registrant_name if reg else "",
                reg.dea_number if reg else "",
                reg.address if reg else destruction.location.address,
                reg.phone if reg else "",
                reg.contact_name if reg else "",
                product.ndc,
                entry.lot.lot_number,
                product.name,
                product.strength_mg_per_ml,
                product.dosage_form,
                product.container_ml,
                full,
                partial,
                entry.qty_ml,
                entry.qty_mg,
                destruction.occurred_at.astimezone(tz).date().isoformat(),
                destruction.method,
                destruction.place,
                _signer(destruction.witness_1),
                destruction.recorded_at.isoformat(),
                _signer(destruction.witness_2),
                destruction.recorded_at.isoformat(),
            ]
        )
    audit_record(
        actor=actor,
        action=AuditAction.EXPORT,
        obj=destruction,
        detail={"report": "cs_form41", "lines": len(rows)},
    )
    return _write(FORM41_HEADER, rows)


def _signer(user: User | None) -> str:
    if user is None:
        return ""
    return f"{user.full_name} <{user.email}>" if getattr(user, "full_name", "") else user.email
