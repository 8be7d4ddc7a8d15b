"""Writes for dosing orders: draft (with the calculator), revise (a new version), sign.

Signing is the prescriber's (LIM-15) and needs the password or a TOTP code in the same request.
A signed order is never written again; a change is a new version that supersedes it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.accounts.services import user_reauthenticate
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.courses.models import TreatmentCourse
from infusionclinic.intake.selectors import patient_may_be_booked
from infusionclinic.patients.models import Patient

from .calculator import (
    OVERRIDABLE_RULES,
    Calculation,
    DoseInput,
    DoseInputError,
    DosingSex,
    Indication,
    Severity,
    WeightBasis,
    calculate,
)
from .conf import dosing_limits, weight_max_age_days
from .models import DosingOrder, OrderScope, OrderStatus, SignMethod
from .selectors import body_values, previous_signed_order


def _require_writer(actor: User) -> None:
    if not actor.has_role_perm(Perm.ORDER_WRITE):
        raise PermissionDenied("Only a prescriber writes dosing orders.")


def _enum(value: Any, enum: type, field: str) -> Any:
    try:
        return enum(value)
    except ValueError as exc:
        raise ValidationError(
            {field: [f"Choose one of: {', '.join(e.value for e in enum)}."]}
        ) from exc


# What an order may hold at all: input sanity, far outside every clinical limit (so LIM-1, LIM-4,
# LIM-7 and LIM-8 still fire as hard stops inside them), and the columns' sizes and places.
INPUT_BOUNDS: dict[str, tuple[Decimal, Decimal, int]] = {  # field: (min, max, decimal places)
    "dose_mg_per_kg": (Decimal("0.001"), Decimal(10), 3),
    "dose_mg_per_kg_per_h": (Decimal("0.001"), Decimal(10), 3),
    "bolus_mg_per_kg": (Decimal(0), Decimal(10), 3),
    "concentration_mg_per_ml": (Decimal("0.01"), Decimal(100), 3),
    "duration_min": (Decimal(1), Decimal(24 * 60), 0),
}


def _decimal(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError as exc:
        raise ValidationError({field: ["Must be a number."]}) from exc
    if not number.is_finite():
        raise ValidationError({field: ["Must be a number."]})
    low, high, places = INPUT_BOUNDS[field]
    if not low <= number <= high:
        raise ValidationError({field: [f"Must be between {low} and {high}."]})
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise ValidationError({field: [f"At most {places} decimal places."]})
    return number


def _local_day(patient: Patient, at: datetime | None = None) -> date:
    """The day at the patient's location, today or on the day of `at`."""
    tz = patient.home_location.tzinfo
    return timezone.localtime(at, tz).date() if at is not None else timezone.localdate(timezone=tz)


def _weight_is_fresh(patient: Patient, measured_on: Any, at: datetime | None = None) -> bool:
    """WT-8: measured within `weight_max_age_days` before the order's day (today, or the day of
    `at`) at the patient's location."""
    today = _local_day(patient, at)
    return measured_on >= today - timedelta(days=weight_max_age_days())


def _check_at(at: datetime | None) -> None:
    if at is not None and (timezone.is_naive(at) or at > timezone.now()):
        raise ValidationError({"at": ["A past, time-zone-aware time (default now)."]})


def order_calculate(
    *,
    patient: Patient,
    indication: str,
    weight_basis: str,
    sex_for_dosing: str,
    duration_min: Any,
    concentration_mg_per_ml: Any,
    dose_mg_per_kg: Any = None,
    dose_mg_per_kg_per_h: Any = None,
    bolus_mg_per_kg: Any = None,
    exclude_lineage: int | None = None,
    at: datetime | None = None,
) -> tuple[Calculation, dict[str, Any]]:
    """The calculator on the patient's recorded weight and height (and the previous order, for
    LIM-10). Returns the calculation and the recorded values it used. With `at` (an order
    written in the past, e.g. the demo history), the weight is the latest measured by that day."""
    body = body_values(patient=patient, on=_local_day(patient, at) if at is not None else None)
    if body.weight is None:
        raise ValidationError({"weight": ["No weight recorded: weigh the patient (WT-8)."]})
    if not _weight_is_fresh(patient, body.weight.measured_on, at):
        raise ValidationError(
            {
                "weight": [
                    f"The latest weight ({body.weight.measured_on}) is older than "
                    f"{weight_max_age_days()} days: weigh the patient again (WT-8)."
                ]
            }
        )
    previous = previous_signed_order(patient=patient, exclude_lineage=exclude_lineage)
    data = DoseInput(
        weight_kg=body.weight.value_si,
        sex=_enum(sex_for_dosing, DosingSex, "sex_for_dosing"),
        indication=_enum(indication, Indication, "indication"),
        duration_min=_decimal(duration_min, "duration_min") or Decimal(0),
        concentration_mg_per_ml=_decimal(concentration_mg_per_ml, "concentration_mg_per_ml")
        or Decimal(0),
        weight_basis=_enum(weight_basis, WeightBasis, "weight_basis"),
        height_cm=body.height.value_si if body.height else None,
        dose_mg_per_kg=_decimal(dose_mg_per_kg, "dose_mg_per_kg"),
        dose_mg_per_kg_per_h=_decimal(dose_mg_per_kg_per_h, "dose_mg_per_kg_per_h"),
        bolus_mg_per_kg=_decimal(bolus_mg_per_kg, "bolus_mg_per_kg"),
        previous_dose_mg=previous.dose_mg if previous else None,
        previous_weight_kg=body.previous_weight.value_si if body.previous_weight else None,
        # LIM-14 needs the last infusion's time, which the infusions app will record.
        hours_since_last_infusion=None,
    )
    try:
        calc = calculate(data, dosing_limits())
    except DoseInputError as exc:
        raise ValidationError({exc.field: [exc.message]}) from exc
    return calc, {
        "weight_kg": body.weight.value_si,
        "weight_measurement": body.weight,
        "weight_measured_on": body.weight.measured_on,
        "height_cm": body.height.value_si if body.height else None,
        "dose_mg_per_kg": data.dose_mg_per_kg,
        "dose_mg_per_kg_per_h": data.dose_mg_per_kg_per_h,
        "bolus_mg_per_kg": data.bolus_mg_per_kg,
        "duration_min": int(data.duration_min),
        "concentration_mg_per_ml": data.concentration_mg_per_ml,
        "sex_for_dosing": data.sex.value,
        "weight_basis": data.weight_basis.value,
        "indication": data.indication.value,
    }


def _calc_fields(calc: Calculation) -> dict[str, Any]:
    return {
        "bmi": calc.bmi,
        "dosing_weight_kg": calc.dosing_weight_kg,
        "dose_mg": calc.dose_mg,
        "volume_ml": calc.volume_ml,
        "rate_ml_per_h": calc.rate_ml_per_h,
        "findings": [
            {"rule_id": f.rule_id, "severity": f.severity.value, "message": f.message}
            for f in calc.findings
        ],
        "rule_ids": list(calc.rule_ids),
        "blocked": calc.blocked,
    }


@transaction.atomic
def dosing_order_create(
    *,
    actor: User,
    patient: Patient,
    indication: str,
    weight_basis: str = WeightBasis.ACTUAL,
    sex_for_dosing: str,
    duration_min: Any,
    concentration_mg_per_ml: Any,
    dose_mg_per_kg: Any = None,
    dose_mg_per_kg_per_h: Any = None,
    bolus_mg_per_kg: Any = None,
    course: TreatmentCourse | None = None,
    scope: str = OrderScope.SINGLE,
    supersedes: DosingOrder | None = None,
    change_reason: str = "",
    at: datetime | None = None,
) -> DosingOrder:
    """A draft order with the calculator's numbers, on the patient's latest fresh weight (as of
    `at`, when the order is written for a past day: the demo history)."""
    _require_writer(actor)
    _check_at(at)
    if course is not None and course.patient_id != patient.pk:
        raise ValidationError({"course": ["Not this patient's course."]})
    scope = _enum(scope, OrderScope, "scope")
    calc, used = order_calculate(
        patient=patient,
        indication=indication,
        weight_basis=weight_basis,
        sex_for_dosing=sex_for_dosing,
        duration_min=duration_min,
        concentration_mg_per_ml=concentration_mg_per_ml,
        dose_mg_per_kg=dose_mg_per_kg,
        dose_mg_per_kg_per_h=dose_mg_per_kg_per_h,
        bolus_mg_per_kg=bolus_mg_per_kg,
        exclude_lineage=supersedes.lineage_id if supersedes else None,
        at=at,
    )
    order = DosingOrder.objects.create(
        patient=patient,
        course=course,
        scope=scope,
        phase=course.phase if course is not None and scope == OrderScope.STANDING else "",
        lineage_id=supersedes.lineage_id if supersedes else None,
        version=supersedes.version + 1 if supersedes else 1,
        supersedes=supersedes,
        change_reason=change_reason,
        created_by=actor,
        **used,
        **_calc_fields(calc),
    )
    if supersedes is None:
        order.lineage_id = order.pk
        order.save(update_fields=["lineage_id"])
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=patient,
        obj=order,
        detail={
            "version": order.version,
            "supersedes": supersedes.pk if supersedes else None,
            "dose_mg": str(order.dose_mg),
            "rule_ids": order.rule_ids,
        },
    )
    return order


REVISABLE = (
    "indication",
    "weight_basis",
    "sex_for_dosing",
    "duration_min",
    "concentration_mg_per_ml",
    "dose_mg_per_kg",
    "dose_mg_per_kg_per_h",
    "bolus_mg_per_kg",
    "scope",
)


@transaction.atomic
def dosing_order_revise(
    *,
    actor: User,
    order: DosingOrder,
    change_reason: str,
    changes: dict[str, Any],
    at: datetime | None = None,
) -> DosingOrder:
    """A change to an order is a new version (draft) that supersedes it; the order itself is
    left exactly as it was. DOSE-3: titration records its reason."""
    _require_writer(actor)
    order = DosingOrder.objects.select_for_update().get(pk=order.pk)
    if DosingOrder.objects.filter(supersedes=order).exists():
        raise ValidationError({"__all__": ["A newer version of this order exists: revise that."]})
    if not (change_reason or "").strip():
        raise ValidationError({"change_reason": ["Say why the order changes (DOSE-3)."]})
    unknown = set(changes) - set(REVISABLE)
    if unknown:
        raise ValidationError({name: ["Not revisable."] for name in sorted(unknown)})
    values = {name: getattr(order, name) for name in REVISABLE} | changes
    return dosing_order_create(
        actor=actor,
        patient=order.patient,
        course=order.course,
        supersedes=order,
        change_reason=change_reason.strip(),
        at=at,
        **values,
    )


def _booking_refusals(patient: Patient) -> list[str]:
    """Intake's eligibility gate (issue 4): a patient who may not be booked (not eligible,
    relative findings unreviewed, consent not current) may not have an order signed either."""
    allowed, reasons = patient_may_be_booked(patient=patient)
    if allowed:
        return []
    return [str(r) for r in reasons] or ["Intake does not allow this patient to be booked."]


def dosing_order_sign(
    *,
    actor: User,
    order: DosingOrder,
    password: str = "",
    totp: str = "",
    warning_reason: str = "",
    override_reason: str = "",
    at: datetime | None = None,
) -> DosingOrder:
    """Sign a draft: only a prescriber (LIM-15), re-authenticating in this request with the
    password or a TOTP code; no hard stop (LIM-*) except an overridable one (LIM-4) with a
    written override reason, a written reason for every warning, a fresh weight (WT-8). The
    re-authentication runs outside the signing transaction so that a failed attempt's audit
    event is kept. `at` is the signing time (default now; the demo history signs past orders);
    the weight must be fresh on that day (WT-8)."""
    if actor.role != Role.PRESCRIBER or not actor.has_role_perm(Perm.ORDER_WRITE):
        raise PermissionDenied("Only a prescriber signs dosing orders (LIM-15).")
    field, method = ("totp", SignMethod.TOTP) if totp else ("password", SignMethod.PASSWORD)
    secret = totp or password
    if not secret.strip():
        raise ValidationError({"password": ["Re-enter your password or a TOTP code to sign."]})
    if not user_reauthenticate(user=actor, secret=secret, purpose="sign dosing order"):
        raise ValidationError({field: ["Not correct: re-enter your password or a current code."]})
    return _sign(
        actor=actor,
        order=order,
        method=method,
        warning_reason=warning_reason,
        override_reason=override_reason,
        at=at,
    )


@transaction.atomic
def _sign(
    *,
    actor: User,
    order: DosingOrder,
    method: str,
    warning_reason: str,
    override_reason: str,
    at: datetime | None = None,
) -> DosingOrder:
    _check_at(at)
    order = (
        DosingOrder.objects.select_for_update()
        .select_related("patient__home_location")
        .get(pk=order.pk)
    )
    if order.status != OrderStatus.DRAFT:
        raise ValidationError(
            {
                "__all__": [
                    "This order is signed and cannot change; revise it to make a new version."
                ]
            }
        )
    if DosingOrder.objects.filter(supersedes=order).exists():
        raise ValidationError({"__all__": ["A newer version of this order exists."]})
    errors: dict[str, list[str]] = {}
    hard = [f for f in order.findings if f["severity"] == Severity.HARD_STOP]
    blocking = [f for f in hard if f["rule_id"] not in OVERRIDABLE_RULES]
    overridable = [f for f in hard if f["rule_id"] in OVERRIDABLE_RULES]
    if blocking:
        errors["__all__"] = [f"{f['rule_id']}: {f['message']}" for f in blocking]
    override = (override_reason or "").strip()
    if overridable and not override:
        errors["override_reason"] = [
            "Above a hard limit: "
            + "; ".join(f"{f['rule_id']}: {f['message']}" for f in overridable)
            + " Signing needs your written reason for overriding it."
        ]
    if not _weight_is_fresh(order.patient, order.weight_measured_on, at):
        errors.setdefault("__all__", []).append(
            f"The weight is older than {weight_max_age_days()} days: weigh the patient again and "
            "write a new version (WT-8)."
        )
    reason = (warning_reason or "").strip()
    if any(f["severity"] == Severity.WARNING for f in order.findings) and not reason:
        errors["warning_reason"] = ["Give a reason for signing despite the warnings."]
    refusals = _booking_refusals(order.patient)
    if refusals:
        errors.setdefault("__all__", []).extend(refusals)
    if errors:
        raise ValidationError(errors)
    now = at or timezone.now()
    updated = DosingOrder.objects.filter(pk=order.pk, status=OrderStatus.DRAFT).update(
        status=OrderStatus.SIGNED,
        signed_by=actor,
        signed_at=now,
        sign_method=method,
        warning_reason=reason,
        override_reason=override if overridable else "",
    )
    if updated != 1:  # pragma: no cover - the row lock above makes this unreachable
        raise ValidationError({"__all__": ["The order changed while signing."]})
    order.refresh_from_db()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=order.patient,
        obj=order,
        detail={
            "signed": True,
            "sign_method": method,
            "overridden": [f["rule_id"] for f in overridable],
            "version": order.version,
            "supersedes": order.supersedes_id,
            "warnings": [f["rule_id"] for f in order.warnings],
        },
    )
    return order
