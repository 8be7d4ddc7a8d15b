"""Writes to the controlled-substance log. Each service locks the lot row (select_for_update),
appends one ledger entry with the balance after it, and records its audit event in the same
transaction; a refused call raises ValidationError and writes nothing (CS-41, CS-45)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_role_perm
from infusionclinic.dosing.models import DosingOrder
from infusionclinic.infusions import dose as session_dose

from . import compliance, conf
from .ledger import (  # noqa: F401  (balance_ml, dose_remaining_ml, ndc11: the ledger's reads, also read as services.*)
    ML_STEP,
    NDC_RE,
    _append,
    _check_location,
    _past_or_now,
    _quantity_ml,
    _witness_check,
    balance_ml,
    dose_remaining_ml,
    ndc11,
)
from .models import (
    Count,
    CountMethod,
    Discrepancy,
    DiscrepancyStatus,
    EntryKind,
    LedgerEntry,
    Lot,
    Product,
)


@transaction.atomic
def product_get_or_create(
    *,
    ndc: str,
    name: str,
    strength_mg_per_ml: Any,
    container_ml: Any,
    labeler: str = "",
    unit_ndc: str = "",
    dosage_form: str = "injection",
) -> Product:
    ndc = (ndc or "").strip()
    eleven = ndc11(ndc)
    try:
        strength = Decimal(str(strength_mg_per_ml))
        container = Decimal(str(container_ml))
    except InvalidOperation as exc:
        raise ValidationError({"strength_mg_per_ml": ["Enter numbers."]}) from exc
    if strength <= 0 or container <= 0:
        raise ValidationError({"strength_mg_per_ml": ["Strength and volume must be positive."]})
    product = Product.objects.filter(ndc=ndc).first()
    if product is None:
        return Product.objects.create(
            ndc=ndc,
            ndc11=eleven,
            unit_ndc=unit_ndc,
            name=name or "Ketamine HCl",
            labeler=labeler,
            dosage_form=dosage_form,
            strength_mg_per_ml=strength,
            container_ml=container,
        )
    if (product.strength_mg_per_ml, product.container_ml) != (strength, container):
        raise ValidationError(
            {"strength_mg_per_ml": ["This NDC was received with another strength/volume (CS-48)."]}
        )
    return product


@transaction.atomic
def receipt_record(
    *,
    actor: User,
    location: Location,
    product: Product,
    lot_number: str,
    expiry: date,
    containers: int,
    supplier: str,
    invoice_number: str,
    supplier_dea: str = "",
    received_at: datetime | None = None,
    storage: str = "",
) -> LedgerEntry:
    """CS-30: vials received on the supplier's invoice (CS-8), dated the day they arrived (CS-5).
    `storage` (CS-9): the locked cabinet a new lot is kept in."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, location)
    if not (lot_number or "").strip():
        raise ValidationError({"lot_number": ["Enter the lot number."]})
    if not (invoice_number or "").strip():
        raise ValidationError({"invoice_number": ["Enter the supplier's invoice number (CS-8)."]})
    if not (supplier or "").strip():
        raise ValidationError({"supplier": ["Enter the supplier."]})
    if not isinstance(containers, int) or containers < 1:
        raise ValidationError({"containers": ["Enter the number of vials received."]})
    lot, _ = Lot.objects.get_or_create(
        product=product,
        location=location,
        lot_number=lot_number.strip(),
        defaults={"expiry": expiry, "storage": (storage or "").strip()[:120]},
    )
    if lot.expiry != expiry:
        raise ValidationError({"expiry": ["This lot is on file with another expiry date."]})
    qty = product.container_ml * containers
    return _append(
        actor=actor,
        lot=lot,
        kind=EntryKind.RECEIPT,
        qty_ml=qty,
        delta_ml=qty,
        occurred_at=received_at,
        supplier=supplier.strip(),
        supplier_dea=supplier_dea.strip(),
        invoice_number=invoice_number.strip(),
    )


@transaction.atomic
def draw_record(
    *,
    actor: User,
    lot: Lot,
    order: DosingOrder,
    qty_ml: Any,
    occurred_at: datetime | None = None,
    session: Any = None,
) -> LedgerEntry:
    """CS-31, CS-42: a draw is tied to a SIGNED, current order of a patient of this location and
    to an open encounter (the order's infusion session, checked in and not finished); the lot
    must not be expired. `order` comes from `dosing.selectors.order_get_for_user`. `session`
    (the session page's draw form, issue 21 point 6) names that encounter; it must be an open
    session of this order at the lot's location."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, lot.location)
    qty = _quantity_ml(qty_ml)
    if not order.is_signed or getattr(order, "is_superseded", False):
        raise ValidationError({"order": ["Choose a signed, current dosing order (CS-42)."]})
    if order.patient.home_location_id != lot.location_id:
        raise ValidationError({"order": ["The order's patient is not a patient of this location."]})
    if lot.expiry < timezone.localdate(timezone=lot.location.tzinfo):
        raise ValidationError({"lot": ["This lot has expired (CS-31)."]})
    if session is not None:  # read again: its state as it is now
        session = session_dose.open_session_get(
            session_id=session.pk, order_id=order.pk, location_id=lot.location_id
        )
    else:
        session = session_dose.open_session_for_order(order_id=order.pk, location=lot.location)
    if session is None:
        raise ValidationError(
            {
                "order": [
                    "CS-42: no open infusion session for this order at this location: check "
                    "the patient in first."
                ]
            }
        )
    if lot.discrepancies.filter(status__in=[DiscrepancyStatus.OPEN, "investigated"]).exists():
        raise ValidationError({"lot": ["This lot is quarantined by an open discrepancy (§7)."]})
    from .bud import bud_check

    bud_check(lot, at=occurred_at)  # CS-25: not from an open vial past its beyond-use date
    return _append(
        actor=actor,
        lot=lot,
        kind=EntryKind.DRAW,
        qty_ml=qty,
        delta_ml=-qty,
        occurred_at=occurred_at,
        patient=order.patient,
        order=order,
        session=session,
    )


def _dose_out(
    *, actor: User, draw: LedgerEntry, kind: str, qty_ml: Any, occurred_at, **fields: Any
) -> LedgerEntry:
    if draw.kind != EntryKind.DRAW:
        raise ValidationError({"dose": ["Choose a draw."]})
    qty = _quantity_ml(qty_ml)
    Lot.objects.select_for_update().filter(pk=draw.lot_id).first()
    remaining = dose_remaining_ml(draw)
    if qty > remaining:  # CS-41 for the dose, CS-43
        raise ValidationError({"qty_ml": [f"Only {remaining} mL of this dose is unaccounted for."]})
    return _append(
        actor=actor,
        lot=draw.lot,
        kind=kind,
        qty_ml=qty,
        delta_ml=Decimal("0.00"),
        occurred_at=occurred_at,
        patient=draw.patient,
        dose=draw,
        order=draw.order,
        **fields,
    )


@transaction.atomic
def administration_record(
    *,
    actor: User,
    draw: LedgerEntry,
    qty_ml: Any = None,
    reason: str = "",
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """CS-32: what the patient received out of a drawn dose: less than drawn is allowed (the
    infusion stopped early; the rest is wasted, CS-33), more than the dose has left is refused
    (CS-41, CS-43). For a draw made for an infusion session, `qty_ml` defaults to the pump's dose
    given in mL of the vial's strength (`infusions.dose.administration_suggestion`); once the pump
    has stopped, another quantity needs a reason. (Before that the pump's figure is not final: the
    difference is named on the session, its note and API by `infusions.dose.session_dose_check`.)"""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, draw.lot.location)
    if draw.kind != EntryKind.DRAW:
        raise ValidationError({"dose": ["Choose a draw."]})
    Lot.objects.select_for_update().filter(pk=draw.lot_id).first()
    # Read again under the lock: the session's state (pump stopped?) as it is now.
    draw = LedgerEntry.objects.select_related(
        "lot__product", "lot__location", "patient", "order", "session"
    ).get(pk=draw.pk)
    suggestion = session_dose.administration_suggestion(draw)
    if qty_ml is None or str(qty_ml).strip() == "":
        if suggestion is None:
            raise ValidationError({"qty_ml": ["Enter the quantity administered."]})
        if suggestion.qty_ml <= 0:
            raise ValidationError(
                {"qty_ml": ["The pump has given nothing yet: enter the quantity administered."]}
            )
        qty_ml = suggestion.qty_ml
    qty = _quantity_ml(qty_ml)
    extra: dict[str, Any] = {}
    if suggestion is not None:
        extra = {
            "session": suggestion.session_id,
            "pump_dose_mg": str(suggestion.pump_mg),
            "pump_default_ml": str(suggestion.qty_ml),
            "differs_from_pump": qty != suggestion.qty_ml,
        }
        over = session_dose.infusion_over(draw.session)
        if qty != suggestion.qty_ml and over and not (reason or "").strip():
            raise ValidationError(
                {
                    "reason": [
                        f"CS-32: {qty} mL differs from the pump's dose given "
                        f"({suggestion.pump_mg} mg = {suggestion.qty_ml} mL at "
                        f"{suggestion.concentration_mg_per_ml} mg/mL still to record): "
                        "say why."
                    ]
                }
            )
    return _dose_out(
        actor=actor,
        draw=draw,
        kind=EntryKind.ADMINISTRATION,
        qty_ml=qty,
        occurred_at=occurred_at,
        reason=(reason or "").strip(),
        audit_extra=extra,
    )


def waste_record(
    *,
    actor: User,
    draw: LedgerEntry,
    qty_ml: Any,
    reason: str,
    witness_email: str,
    witness_secret: str,
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """CS-33, CS-44: wastage out of a drawn dose, witnessed by another licensed user who
    re-authenticates in the same request (outside the write transaction, so that a failed attempt's
    audit event is kept)."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, draw.lot.location)
    if not (reason or "").strip():
        raise ValidationError({"reason": ["Say what was wasted and how (CS-33)."]})
    qty = _quantity_ml(qty_ml)
    if qty > dose_remaining_ml(draw):
        raise ValidationError({"qty_ml": ["More than the dose has left."]})
    witness = _witness_check(
        actor=actor,
        lot=draw.lot,
        witness_email=witness_email,
        witness_secret=witness_secret,
        purpose="controlled.waste",
    )
    with transaction.atomic():
        return _dose_out(
            actor=actor,
            draw=draw,
            kind=EntryKind.WASTE,
            qty_ml=qty,
            occurred_at=occurred_at,
            witness=witness,
            reason=reason.strip(),
        )


def stock_out_record(
    *,
    actor: User,
    lot: Lot,
    kind: str,
    qty_ml: Any,
    reason: str,
    occurred_at: datetime | None = None,
    **_witness: str,
) -> LedgerEntry:
    """CS-38: a theft or loss of one lot, discovered now (or at `occurred_at`): opens a
    LossReport with its deadlines (CS-13). Destruction and return to a reverse distributor have
    their own records (CS-17/18/37: `compliance.destruction_record`,
    `compliance.reverse_distributor_return_record`)."""
    if kind == EntryKind.DESTRUCTION:
        raise ValidationError(
            {"kind": ["CS-17: destruction is recorded on Form 41 with two witnesses."]}
        )
    if kind == EntryKind.RETURN:
        raise ValidationError(
            {"kind": ["CS-17: a return names the reverse distributor (its own record)."]}
        )
    if kind != EntryKind.LOSS:
        raise ValidationError({"kind": ["Not a stock-out kind."]})
    report = compliance.loss_report_open(
        actor=actor,
        location=lot.location,
        discovered_at=occurred_at,
        loss_type="other",
        circumstances=reason,
        lines=[(lot, qty_ml)],
    )
    return report.entries.get()


def adjustment_record(
    *,
    actor: User,
    corrects: LedgerEntry,
    delta_ml: Any,
    reason: str,
    witness_email: str,
    witness_secret: str,
) -> LedgerEntry:
    """CS-40: a correction of one earlier entry, as a new entry with its own signed change to the
    balance, a reason and a re-authenticated witness (CS-44)."""
    require_role_perm(actor, Perm.CS_RECORD)
    lot = corrects.lot
    _check_location(actor, lot.location)
    try:
        delta = Decimal(str(delta_ml))
    except InvalidOperation as exc:
        raise ValidationError({"delta_ml": ["Enter a number of mL."]}) from exc
    if not delta.is_finite() or delta == 0 or delta != delta.quantize(ML_STEP):
        raise ValidationError({"delta_ml": ["Enter a non-zero change in mL (2 decimals)."]})
    if not (reason or "").strip():
        raise ValidationError({"reason": ["Say what is corrected and why (CS-40)."]})
    witness = _witness_check(
        actor=actor,
        lot=lot,
        witness_email=witness_email,
        witness_secret=witness_secret,
        purpose="controlled.correction",
    )
    with transaction.atomic():
        return _append(
            actor=actor,
            lot=lot,
            kind=EntryKind.ADJUSTMENT,
            qty_ml=abs(delta),
            delta_ml=delta,
            occurred_at=None,
            witness=witness,
            corrects=corrects,
            reason=reason.strip(),
        )


@transaction.atomic
def count_record(
    *,
    actor: User,
    lot: Lot,
    counted_ml: Any,
    method: str,
    note: str = "",
    at: datetime | None = None,
) -> Count:
    """CS-39, R2: a count of one lot; a variance beyond tolerance opens a Discrepancy (§7)."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, lot.location)
    counted = _count_ml(counted_ml, "counted_ml")
    if method not in CountMethod.values:
        raise ValidationError({"method": ["Choose how it was counted."]})
    Lot.objects.select_for_update().filter(pk=lot.pk).first()
    count = Count.objects.create(
        lot=lot,
        counted_ml=counted,
        method=method,
        expected_ml=balance_ml(lot),
        counted_at=_past_or_now(at),
        counted_by=actor,
        note=note.strip(),
    )
    tolerance = conf.variance_tolerance_ml() if method == CountMethod.ESTIMATED else Decimal(0)
    discrepancy = None
    if abs(count.variance_ml) > tolerance:
        discrepancy = Discrepancy.objects.create(count=count, lot=lot)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=count,
        detail={
            "lot": lot.lot_number,
            "counted_ml": str(counted),
            "expected_ml": str(count.expected_ml),
            "discrepancy": discrepancy.pk if discrepancy else None,
        },
    )
    return count


def _count_ml(value: Any, field: str) -> Decimal:
    try:
        counted = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({field: ["Enter a number of mL."]}) from exc
    if not counted.is_finite() or counted < 0 or counted != counted.quantize(ML_STEP):
        raise ValidationError({field: ["Enter the mL found (2 decimals)."]})
    return counted


def discrepancy_recount(
    *,
    actor: User,
    discrepancy: Discrepancy,
    first_count_ml: Any,
    second_count_ml: Any,
    second_counter_email: str,
    second_counter_secret: str,
    at: datetime | None = None,
) -> Discrepancy:
    """§7 step 2: recount at once by two users, both counts recorded. The actor counts first;
    another licensed user of the location counts second and re-authenticates on the same screen
    (the waste witness's check, CS-44), outside the write transaction so that a failed attempt's
    audit event is kept. Once per discrepancy, before it is closed."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, discrepancy.lot.location)
    first = _count_ml(first_count_ml, "first_count_ml")
    second = _count_ml(second_count_ml, "second_count_ml")
    if discrepancy.recounted_at is not None:
        raise ValidationError({"__all__": ["This discrepancy has been recounted already (§7)."]})
    counter = _witness_check(
        actor=actor,
        lot=discrepancy.lot,
        witness_email=second_counter_email,
        witness_secret=second_counter_secret,
        purpose="controlled.recount",
        field="second_counter",
    )
    with transaction.atomic():
        discrepancy = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
        if discrepancy.recounted_at is not None:
            raise ValidationError({"__all__": ["This discrepancy has been recounted already."]})
        if discrepancy.status not in (DiscrepancyStatus.OPEN, DiscrepancyStatus.INVESTIGATED):
            raise ValidationError({"status": ["A closed discrepancy is not recounted."]})
        discrepancy.recount_first_ml = first
        discrepancy.recount_first_by = actor
        discrepancy.recount_second_ml = second
        discrepancy.recount_second_by = counter
        discrepancy.recounted_at = _past_or_now(at)
        discrepancy.save()
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=discrepancy,
            detail={
                "step": "recount",
                "lot": discrepancy.lot.lot_number,
                "expected_ml": str(discrepancy.count.expected_ml),
                "counted_ml": str(discrepancy.count.counted_ml),
                "first_count_ml": str(first),
                "first_by": actor.email,
                "second_count_ml": str(second),
                "second_by": counter.email,
                "counts_agree": first == second,
            },
        )
    return discrepancy


@transaction.atomic
def discrepancy_investigate(*, actor: User, discrepancy: Discrepancy, notes: str) -> Discrepancy:
    """§7 step 3: the trace, written down (the recount is `discrepancy_recount`)."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, discrepancy.lot.location)
    discrepancy = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
    if discrepancy.status != DiscrepancyStatus.OPEN:
        raise ValidationError({"status": ["Only an open discrepancy can be investigated."]})
    if not (notes or "").strip():
        raise ValidationError({"notes": ["Write down what the recount and trace found."]})
    discrepancy.status = DiscrepancyStatus.INVESTIGATED
    discrepancy.investigation_notes = notes.strip()
    discrepancy.investigated_by = actor
    discrepancy.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=discrepancy,
        detail={"status": discrepancy.status},
    )
    return discrepancy


@transaction.atomic
def discrepancy_close(
    *,
    actor: User,
    discrepancy: Discrepancy,
    outcome: str,
    reason: str,
    at: datetime | None = None,
) -> Discrepancy:
    """§7 step 4: resolved with a reason (documentation error, minor variance, CS-14), or reported
    as theft/loss: a `loss` entry for the missing mL (CS-38; DEA notice and Form 106, CS-13)."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, discrepancy.lot.location)
    discrepancy = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
    if discrepancy.status != DiscrepancyStatus.INVESTIGATED:
        raise ValidationError({"status": ["Investigate the discrepancy first (§7)."]})
    if discrepancy.recounted_at is None:
        raise ValidationError(
            {"recount": ["§7 step 2: record the recount by two users before closing."]}
        )
    if outcome not in (DiscrepancyStatus.RESOLVED, DiscrepancyStatus.REPORTED_LOSS):
        raise ValidationError({"outcome": ["Choose resolved or reported as loss."]})
    if not (reason or "").strip():
        raise ValidationError({"reason": ["Give the reason."]})
    if outcome == DiscrepancyStatus.REPORTED_LOSS:
        # §7 step 2 sizes the loss: what the two recounts found (the lower, if they differ, so a
        # loss is never under-reported) against the ledger balance when the count was taken.
        found = min(discrepancy.recount_first_ml, discrepancy.recount_second_ml)
        missing = discrepancy.count.expected_ml - found
        if missing <= 0:
            raise ValidationError({"outcome": ["Nothing is missing: the count found more."]})
        missing = min(missing, balance_ml(discrepancy.lot))
        if missing > 0:
            # CS-13, §7 step 4: discovered when the count found the gap.
            report = compliance.loss_report_open(
                actor=actor,
                location=discrepancy.lot.location,
                discovered_at=discrepancy.count.counted_at,
                loss_type="other",
                circumstances=(
                    f"Discrepancy {discrepancy.pk}: ledger {discrepancy.count.expected_ml} mL,"
                    f" counted {discrepancy.count.counted_ml} mL, recounted"
                    f" {discrepancy.recount_first_ml} / {discrepancy.recount_second_ml} mL."
                    f" {reason.strip()}"
                ),
                lines=[(discrepancy.lot, missing)],
            )
            discrepancy.loss_entry = report.entries.get()
    discrepancy.status = outcome
    discrepancy.resolution_reason = reason.strip()
    discrepancy.closed_by = actor
    discrepancy.closed_at = _past_or_now(at)
    discrepancy.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=discrepancy,
        detail={"status": outcome},
    )
    return discrepancy
