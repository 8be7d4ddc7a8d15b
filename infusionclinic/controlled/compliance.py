"""The registrant's records around the ledger (controlled-substances.md §4-§6): the DEA
registration per location, inventory destruction on DEA Form 41 with two witnesses or return to a
reverse distributor (CS-17, CS-18, CS-37), theft/loss reports with their deadlines (CS-13, CS-38,
R5), and the daily reconciliation signed by two users (R2, CS-43). Writes lock what they change
and audit inside the transaction, like services.py, whose ledger append they reuse."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_role_perm

from . import business_days, conf
from .ledger import _append, _check_location, _quantity_ml, _witness_check, balance_ml
from .models import (
    Count,
    Destruction,
    DestructionKind,
    Discrepancy,
    EntryKind,
    LedgerEntry,
    LossReport,
    LossType,
    Lot,
    Reconciliation,
    Registration,
)
from .selectors import open_discrepancies_at, open_draws_at

DEA_RE = re.compile(r"^[A-Z]{2}\d{7}$")


def dea_number_valid(number: str) -> bool:
    """Two letters and seven digits; the last digit is the check digit: (d1 + d3 + d5) +
    2 × (d2 + d4 + d6), last digit of the sum."""
    if not DEA_RE.match(number or ""):
        return False
    d = [int(c) for c in number[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


def _local_today(location: Location) -> date:
    return timezone.localdate(timezone=location.tzinfo)


# --- Registration (§4) -------------------------------------------------------------------------


@transaction.atomic
def registration_record(
    *,
    actor: User,
    location: Location,
    registrant_name: str,
    dea_number: str,
    address: str,
    expires_on: date,
    schedules: str = "III",
    phone: str = "",
    contact_name: str = "",
    county: str = "",
    principal_business: str = "Practitioner",
) -> Registration:
    """§4 `Registration` (CS-4: one per registered location; a renewal is a new row)."""
    require_role_perm(actor, Perm.CS_EXPORT)
    _check_location(actor, location)
    number = (dea_number or "").strip().upper()
    errors: dict[str, list[str]] = {}
    if not dea_number_valid(number):
        errors["dea_number"] = ["Enter the DEA number as issued: 2 letters, 7 digits (checked)."]
    if not (registrant_name or "").strip():
        errors["registrant_name"] = ["Enter the registrant's name."]
    if not (address or "").strip():
        errors["address"] = ["Enter the registered address."]
    if "III" not in (schedules or "").upper():
        errors["schedules"] = ["Ketamine is Schedule III (CS-1): the registration must cover it."]
    if errors:
        raise ValidationError(errors)
    registration = Registration.objects.create(
        location=location,
        registrant_name=registrant_name.strip(),
        dea_number=number,
        schedules=schedules.strip(),
        address=address.strip(),
        phone=phone.strip(),
        contact_name=contact_name.strip(),
        county=county.strip(),
        principal_business=principal_business.strip() or "Practitioner",
        expires_on=expires_on,
        recorded_by=actor,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=registration,
        detail={"location": location.code, "dea_number": number, "expires_on": str(expires_on)},
    )
    return registration


@dataclass(frozen=True)
class RegistrationStatus:
    registration: Registration | None
    state: str  # missing | expired | expiring | current
    days_left: int | None

    @property
    def message(self) -> str:
        r = self.registration
        if r is None:
            return "No DEA registration on file for this location (§4, CS-4)."
        if self.state == "expired":
            return f"DEA registration {r.dea_number} expired on {r.expires_on}."
        if self.state == "expiring":
            return (
                f"DEA registration {r.dea_number} expires on {r.expires_on} "
                f"({self.days_left} days): renew it."
            )
        return f"DEA registration {r.dea_number}, expires {r.expires_on}."


def registration_current(*, location: Location) -> Registration | None:
    return Registration.objects.filter(location=location).order_by("-expires_on", "-pk").first()


def registration_status(*, location: Location) -> RegistrationStatus:
    registration = registration_current(location=location)
    if registration is None:
        return RegistrationStatus(None, "missing", None)
    days = (registration.expires_on - _local_today(location)).days
    if days < 0:
        return RegistrationStatus(registration, "expired", days)
    if days <= conf.registration_warn_days():
        return RegistrationStatus(registration, "expiring", days)
    return RegistrationStatus(registration, "current", days)


# --- Destruction and reverse distributor (CS-17, CS-18, CS-37) ----------------------------------


def _lines(location: Location, lines: list[tuple[Lot, Any]]) -> list[tuple[Lot, Decimal]]:
    if not lines:
        raise ValidationError({"lines": ["Name at least one lot and quantity."]})
    parsed = []
    for lot, qty in lines:
        if lot.location_id != location.pk:
            raise ValidationError({"lines": ["A lot of another location (CS-4)."]})
        parsed.append((lot, _quantity_ml(qty)))
    seen = [lot.pk for lot, _ in parsed]
    if len(seen) != len(set(seen)):
        raise ValidationError({"lines": ["Each lot once per record."]})
    return parsed


def _occurred(occurred_at: datetime | None) -> datetime:
    now = timezone.now()
    if occurred_at is None:
        return now
    if timezone.is_naive(occurred_at):
        raise ValidationError({"occurred_at": ["Give the time with its time zone."]})
    if occurred_at > now:
        raise ValidationError({"occurred_at": ["The event cannot be in the future."]})
    return occurred_at


def _disposal_record(
    *,
    actor: User,
    location: Location,
    parsed: list[tuple[Lot, Decimal]],
    occurred: datetime,
    entry_kind: str,
    reason: Callable[[Destruction], str],
    entry_fields: dict[str, Any],
    detail: dict[str, Any],
    **fields: Any,
) -> Destruction:
    """The Destruction row (CS-17, CS-37), one outgoing ledger entry per line and the audit
    event. The caller has checked everything and holds the transaction."""
    record = Destruction.objects.create(
        location=location,
        registration=registration_current(location=location),
        occurred_at=occurred,
        recorded_by=actor,
        **fields,
    )
    for lot, qty in parsed:
        _append(
            actor=actor,
            lot=lot,
            kind=entry_kind,
            qty_ml=qty,
            delta_ml=-qty,
            occurred_at=occurred,
            destruction=record,
            reason=reason(record),
            **entry_fields,
        )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=record,
        detail={"kind": record.kind, "lines": len(parsed), **detail},
    )
    return record


def destruction_record(
    *,
    actor: User,
    location: Location,
    lines: list[tuple[Lot, Any]],
    method: str,
    place: str,
    witness_1_email: str,
    witness_1_secret: str,
    witness_2_email: str,
    witness_2_secret: str,
    occurred_at: datetime | None = None,
) -> Destruction:
    """CS-17, CS-18, CS-37: inventory destroyed on site to a non-retrievable state (CS-19) with
    two authorized employees witnessing, both re-authenticating on this screen (CS-44), distinct
    from each other and from the actor. One ledger entry per line, all in one transaction. The
    witnesses are checked before the transaction so a failed attempt's audit event is kept."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, location)
    parsed = _lines(location, lines)
    errors: dict[str, list[str]] = {}
    if not (method or "").strip():
        errors["method"] = ["CS-18: the method of destruction."]
    if not (place or "").strip():
        errors["place"] = ["CS-18: the place of destruction."]
    if errors:
        raise ValidationError(errors)
    occurred = _occurred(occurred_at)
    first = _witness_check(
        actor=actor,
        location=location,
        witness_email=witness_1_email,
        witness_secret=witness_1_secret,
        purpose="controlled.destruction",
        field="witness_1",
    )
    second = _witness_check(
        actor=actor,
        location=location,
        witness_email=witness_2_email,
        witness_secret=witness_2_secret,
        purpose="controlled.destruction",
        field="witness_2",
    )
    if second.pk == first.pk:
        raise ValidationError({"witness_2_email": ["CS-17: two different witnesses."]})
    with transaction.atomic():
        return _disposal_record(
            actor=actor,
            location=location,
            parsed=parsed,
            occurred=occurred,
            entry_kind=EntryKind.DESTRUCTION,
            reason=lambda d: f"Form 41 record {d.pk}: {d.method}",
            entry_fields={"witness": first, "second_witness": second},
            detail={"witnesses": [first.email, second.email]},
            kind=DestructionKind.ON_SITE,
            method=method.strip()[:200],
            place=place.strip()[:200],
            witness_1=first,
            witness_2=second,
        )


@transaction.atomic
def reverse_distributor_return_record(
    *,
    actor: User,
    location: Location,
    lines: list[tuple[Lot, Any]],
    distributor_name: str,
    distributor_address: str,
    distributor_dea: str,
    reference: str = "",
    occurred_at: datetime | None = None,
) -> Destruction:
    """CS-17, CS-37: inventory returned to a DEA-registered reverse distributor (their name,
    address and DEA number are recorded, as for a transfer, CS-36)."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, location)
    parsed = _lines(location, lines)
    number = (distributor_dea or "").strip().upper()
    errors: dict[str, list[str]] = {}
    if not (distributor_name or "").strip():
        errors["distributor_name"] = ["The reverse distributor's name."]
    if not (distributor_address or "").strip():
        errors["distributor_address"] = ["The reverse distributor's address."]
    if not dea_number_valid(number):
        errors["distributor_dea"] = ["The reverse distributor's DEA number (2 letters, 7 digits)."]
    if errors:
        raise ValidationError(errors)
    occurred = _occurred(occurred_at)
    return _disposal_record(
        actor=actor,
        location=location,
        parsed=parsed,
        occurred=occurred,
        entry_kind=EntryKind.RETURN,
        reason=lambda r: f"Returned to {r.distributor_name} ({number}) {r.reference}".strip(),
        entry_fields={},
        detail={"distributor_dea": number},
        kind=DestructionKind.REVERSE_DISTRIBUTOR,
        distributor_name=distributor_name.strip()[:200],
        distributor_address=distributor_address.strip(),
        distributor_dea=number,
        reference=(reference or "").strip()[:100],
    )


def vial_remainder_waste_record(
    *,
    actor: User,
    lot: Lot,
    qty_ml: Any,
    reason: str,
    witness_email: str,
    witness_secret: str,
) -> LedgerEntry:
    """CS-21: only when the clinic sets `CONTROLLED_MDV_REMAINDER_IS_WASTAGE`, a multiple-dose
    vial's remainder discarded right after a dose is recorded as witnessed wastage (CS-15, CS-44);
    by default it is inventory and goes through `destruction_record` (Form 41)."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, lot.location)
    if not conf.mdv_remainder_is_wastage():
        raise ValidationError(
            {
                "__all__": [
                    "CS-21: a multiple-dose vial's remainder is inventory here: destroy it on "
                    "Form 41 with two witnesses, or return it to a reverse distributor (CS-17)."
                ]
            }
        )
    if not (reason or "").strip():
        raise ValidationError({"reason": ["Say what was discarded and how (CS-15)."]})
    qty = _quantity_ml(qty_ml)
    witness = _witness_check(
        actor=actor,
        lot=lot,
        witness_email=witness_email,
        witness_secret=witness_secret,
        purpose="controlled.waste",
    )
    with transaction.atomic():
        return _append(
            actor=actor,
            lot=lot,
            kind=EntryKind.WASTE,
            qty_ml=qty,
            delta_ml=-qty,
            occurred_at=None,
            witness=witness,
            reason=f"CS-21 vial remainder: {reason.strip()}",
        )


# --- Theft and loss (CS-13, CS-14, CS-38, R5) ---------------------------------------------------


def notice_due(report: LossReport) -> datetime:
    """CS-13: written notice within 1 business day of discovery: the end of the next business
    day at the location (weekends, US federal holidays and `CONTROLLED_EXTRA_CLOSED_DAYS`
    skipped: business_days.py)."""
    tz = report.location.tzinfo
    day = business_days.next_business_day(report.discovered_at.astimezone(tz).date())
    return datetime.combine(day, time.max, tzinfo=tz)


def form106_due(report: LossReport) -> datetime:
    """CS-13: DEA Form 106 within 45 days of discovery."""
    return report.discovered_at + timedelta(days=conf.form106_days())


@dataclass(frozen=True)
class LossDeadlines:
    notice_due: datetime
    notice_overdue: bool
    form106_due: datetime
    form106_overdue: bool


def loss_deadlines(report: LossReport, *, now: datetime | None = None) -> LossDeadlines:
    now = now or timezone.now()
    n_due, f_due = notice_due(report), form106_due(report)
    return LossDeadlines(
        notice_due=n_due,
        notice_overdue=report.dea_notice_sent_at is None and now > n_due,
        form106_due=f_due,
        form106_overdue=report.form106_submitted_at is None and now > f_due,
    )


@transaction.atomic
def loss_report_open(
    *,
    actor: User,
    location: Location,
    discovered_at: datetime | None,
    loss_type: str,
    circumstances: str,
    lines: list[tuple[Lot, Any]],
    police_notified: bool = False,
    police_department: str = "",
    police_phone: str = "",
    police_report_number: str = "",
    purchase_value: Any = None,
    carrier: str = "",
) -> LossReport:
    """CS-38: a theft or loss takes the missing quantity out of stock (one `loss` entry per lot)
    and opens the report whose deadlines run from the discovery (CS-13)."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, location)
    parsed = _lines(location, lines)
    errors: dict[str, list[str]] = {}
    if loss_type not in LossType.values:
        errors["loss_type"] = ["Choose the type of theft or loss (Form 106)."]
    if not (circumstances or "").strip():
        errors["circumstances"] = ["Describe what happened and how it was discovered."]
    value = None
    if purchase_value not in (None, ""):
        try:
            value = Decimal(str(purchase_value))
        except InvalidOperation:
            value = Decimal(-1)
        if not value.is_finite() or value < 0:
            errors["purchase_value"] = ["Enter the purchase value in dollars."]
    if police_notified and not (police_department or "").strip():
        errors["police_department"] = ["Name the police department notified."]
    if errors:
        raise ValidationError(errors)
    discovered = _occurred(discovered_at)
    report = LossReport.objects.create(
        location=location,
        registration=registration_current(location=location),
        discovered_at=discovered,
        loss_type=loss_type,
        circumstances=circumstances.strip(),
        police_notified=police_notified,
        police_department=police_department.strip(),
        police_phone=police_phone.strip(),
        police_report_number=police_report_number.strip(),
        purchase_value=value,
        carrier=carrier.strip(),
        opened_by=actor,
    )
    for lot, qty in parsed:
        _append(
            actor=actor,
            lot=lot,
            kind=EntryKind.LOSS,
            qty_ml=qty,
            delta_ml=-qty,
            occurred_at=discovered,
            loss_report=report,
            reason=circumstances.strip(),
        )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=report,
        detail={"loss_type": loss_type, "lines": len(parsed), "location": location.code},
    )
    return report


def _report_step(actor: User, report: LossReport) -> LossReport:
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, report.location)
    return LossReport.objects.select_for_update().select_related("location").get(pk=report.pk)


@transaction.atomic
def loss_report_notice_sent(
    *, actor: User, report: LossReport, sent_at: datetime | None = None
) -> LossReport:
    """CS-13: the written notice to the DEA Field Division Office was sent."""
    report = _report_step(actor, report)
    if report.dea_notice_sent_at is not None:
        raise ValidationError({"sent_at": ["The notice is already recorded."]})
    sent = _occurred(sent_at)
    if sent < report.discovered_at:
        raise ValidationError({"sent_at": ["Before the discovery."]})
    report.dea_notice_sent_at = sent
    report.save(update_fields=["dea_notice_sent_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=report,
        detail={"step": "dea_notice_sent", "late": sent > notice_due(report)},
    )
    return report


@transaction.atomic
def loss_report_form106_submitted(
    *, actor: User, report: LossReport, reference: str, submitted_at: datetime | None = None
) -> LossReport:
    """CS-13: DEA Form 106 submitted online, with DEA's reference."""
    report = _report_step(actor, report)
    if report.form106_submitted_at is not None:
        raise ValidationError({"reference": ["Form 106 is already recorded."]})
    if not (reference or "").strip():
        raise ValidationError({"reference": ["Enter the reference DEA gave the submission."]})
    submitted = _occurred(submitted_at)
    if submitted < report.discovered_at:
        raise ValidationError({"submitted_at": ["Before the discovery."]})
    report.form106_submitted_at = submitted
    report.form106_reference = reference.strip()[:60]
    report.save(update_fields=["form106_submitted_at", "form106_reference"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=report,
        detail={"step": "form106_submitted", "late": submitted > form106_due(report)},
    )
    return report


def loss_reports_at(*, location: Location) -> list[LossReport]:
    return list(
        LossReport.objects.filter(location=location)
        .select_related("location", "registration")
        .prefetch_related("entries__lot__product")
    )


def loss_reports_overdue(*, location: Location, now: datetime | None = None) -> list[LossReport]:
    """Reports with a CS-13 deadline passed and its step not recorded (shown to staff)."""
    out = []
    pending = LossReport.objects.filter(location=location).filter(
        Q(dea_notice_sent_at__isnull=True) | Q(form106_submitted_at__isnull=True)
    )
    for report in pending.select_related("location"):
        deadlines = loss_deadlines(report, now=now)
        if deadlines.notice_overdue or deadlines.form106_overdue:
            out.append(report)
    return out


# --- Daily reconciliation signed by two (R2, CS-43) --------------------------------------------


@dataclass(frozen=True)
class ReconciliationState:
    business_date: date
    signed: Reconciliation | None
    counts: dict[int, Count]  # lot id → today's latest count
    uncounted: list[Lot]  # lots in stock (or moved today) without a count today
    open_doses: list[LedgerEntry]  # CS-43
    open_discrepancies: list[Discrepancy]

    @property
    def problems(self) -> list[str]:
        out = []
        for draw in self.open_doses:
            out.append(
                f"CS-43: dose #{draw.pk} ({draw.patient.family_name if draw.patient else '-'}, "
                f"lot {draw.lot.lot_number}) is open: administer or waste what is left first."
            )
        for lot in self.uncounted:
            out.append(f"R2: lot {lot.lot_number} has no count today.")
        return out


def reconciliation_state(*, location: Location) -> ReconciliationState:
    today = _local_today(location)
    start = datetime.combine(today, time.min, tzinfo=location.tzinfo)
    counts: dict[int, Count] = {}
    for count in Count.objects.filter(lot__location=location, counted_at__gte=start).order_by(
        "counted_at", "pk"
    ):
        counts[count.lot_id] = count
    uncounted = []
    for lot in Lot.objects.filter(location=location).select_related("product"):
        moved_today = lot.entries.filter(occurred_at__gte=start).exists()
        if (balance_ml(lot) > 0 or moved_today) and lot.pk not in counts:
            uncounted.append(lot)
    return ReconciliationState(
        business_date=today,
        signed=Reconciliation.objects.filter(location=location, business_date=today).first(),
        counts=counts,
        uncounted=uncounted,
        open_doses=open_draws_at(location=location),
        open_discrepancies=list(open_discrepancies_at(location=location)),
    )


def reconciliation_sign(
    *,
    actor: User,
    location: Location,
    second_email: str,
    second_secret: str,
    note: str = "",
) -> Reconciliation:
    """R2: the close-of-business reconciliation, signed by the actor and a second licensed user
    who re-authenticates on the same screen (CS-44). Refused while any dose is open (CS-43:
    administered + wasted must equal drawn) or a lot in stock has no count today."""
    require_role_perm(actor, Perm.CS_RECORD)
    _check_location(actor, location)
    if actor.role not in conf.witness_roles():
        raise PermissionDenied("R2: the reconciliation is signed by licensed users.")
    state = reconciliation_state(location=location)
    if state.signed is not None:
        raise ValidationError({"__all__": ["Today's reconciliation is already signed."]})
    if state.problems:
        raise ValidationError({"__all__": state.problems})
    second = _witness_check(
        actor=actor,
        location=location,
        witness_email=second_email,
        witness_secret=second_secret,
        purpose="controlled.reconciliation",
        field="second",
    )
    with transaction.atomic():
        Location.objects.select_for_update().filter(pk=location.pk).first()
        if Reconciliation.objects.filter(
            location=location, business_date=state.business_date
        ).exists():
            raise ValidationError({"__all__": ["Today's reconciliation is already signed."]})
        record = Reconciliation.objects.create(
            location=location,
            business_date=state.business_date,
            signed_by=actor,
            second_signed_by=second,
            signed_at=timezone.now(),
            counts=[
                {
                    "lot": c.lot.lot_number,
                    "count_id": c.pk,
                    "expected_ml": str(c.expected_ml),
                    "counted_ml": str(c.counted_ml),
                    "method": c.method,
                }
                for c in state.counts.values()
            ],
            open_discrepancies=[d.pk for d in state.open_discrepancies],
            note=(note or "").strip(),
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            obj=record,
            detail={
                "business_date": str(state.business_date),
                "second": second.email,
                "counts": len(state.counts),
                "open_discrepancies": record.open_discrepancies,
            },
        )
    return record
