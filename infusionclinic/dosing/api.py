"""API: the dosing calculator and dosing orders (/api/v1/dosing/calculate, /api/v1/orders).

Orders are keyed by order_id; the patient is named in the body or the query, never the path, and
`order_get_for_user` answers 404 for any order the caller may not see."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from infusionclinic.accounts.roles import Perm
from infusionclinic.api.fields import Id
from infusionclinic.api.schemas import ErrorOut
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.courses.selectors import course_get_for_user
from infusionclinic.patients.selectors import patient_get_for_user

from . import services
from .calculator import DoseInput, DoseInputError, DosingSex, Indication, WeightBasis, calculate
from .conf import dosing_limits
from .models import DosingOrder
from .selectors import order_get_for_user, order_versions, orders_for_patient

router = Router(tags=["dosing"])
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class CalculateIn(Schema):
    model_config = ConfigDict(extra="forbid")
    weight_kg: Decimal = Field(gt=0, le=1000)
    height_cm: Decimal | None = Field(None, gt=0, le=1000)
    sex: Literal["female", "male"]
    # Input sanity bounds, the same as services.INPUT_BOUNDS (far outside the clinical limits):
    # a 0.0000001-minute infusion would make a pump rate no Decimal context can hold.
    dose_mg_per_kg: Decimal | None = Field(None, ge=Decimal("0.001"), le=10)
    dose_mg_per_kg_per_h: Decimal | None = Field(None, ge=Decimal("0.001"), le=10)
    duration_min: Decimal = Field(ge=1, le=24 * 60)
    concentration_mg_per_ml: Decimal = Field(ge=Decimal("0.01"), le=100)
    weight_basis: Literal["actual", "ideal", "adjusted"] = "actual"
    indication: Literal["depression", "ptsd", "anxiety", "ocd", "pain"]


class WarningOut(Schema):
    rule_id: str
    message: str


class CalculateOut(Schema):
    dosing_weight_kg: float
    dose_mg: float
    volume_ml: float
    rate_ml_per_h: float
    blocked: bool
    warnings: list[WarningOut]
    rule_ids: list[str]


def _plausible(value: Decimal | None, field: str, low: float, high: float, unit: str) -> None:
    if value is not None and not Decimal(str(low)) <= value <= Decimal(str(high)):
        raise ValidationError({field: [f"Outside the plausible range {low:g}-{high:g} {unit}."]})


@router.post("/dosing/calculate", response={200: CalculateOut, **ERRORS})
def dosing_calculate(request: HttpRequest, payload: CalculateIn) -> Any:
    """dosing.md: dosing weight (WT-*), dose, volume and pump rate (RATE-*), limits (LIM-*).
    `warnings` lists every finding, hard stops included; `blocked` is true when one is a hard
    stop. Pain (DOSE-P5) takes dose_mg_per_kg_per_h in place of dose_mg_per_kg."""
    if not request.user.has_role_perm(Perm.ORDER_VIEW_SIGNED):
        raise PermissionDenied("Your role may not use the dosing calculator.")
    _plausible(
        payload.weight_kg,
        "weight_kg",
        settings.PATIENT_WEIGHT_MIN_KG,
        settings.PATIENT_WEIGHT_MAX_KG,
        "kg",
    )
    _plausible(
        payload.height_cm,
        "height_cm",
        settings.PATIENT_HEIGHT_MIN_CM,
        settings.PATIENT_HEIGHT_MAX_CM,
        "cm",
    )
    try:
        calc = calculate(
            DoseInput(
                weight_kg=payload.weight_kg,
                height_cm=payload.height_cm,
                sex=DosingSex(payload.sex),
                indication=Indication(payload.indication),
                duration_min=payload.duration_min,
                concentration_mg_per_ml=payload.concentration_mg_per_ml,
                weight_basis=WeightBasis(payload.weight_basis),
                dose_mg_per_kg=payload.dose_mg_per_kg,
                dose_mg_per_kg_per_h=payload.dose_mg_per_kg_per_h,
            ),
            dosing_limits(),
        )
    except DoseInputError as exc:
        raise ValidationError({exc.field: [exc.message]}) from exc
    return {
        "dosing_weight_kg": calc.dosing_weight_kg,
        "dose_mg": calc.dose_mg,
        "volume_ml": calc.volume_ml,
        "rate_ml_per_h": calc.rate_ml_per_h,
        "blocked": calc.blocked,
        "warnings": [
            {
                "rule_id": f.rule_id,
                "message": f"Hard stop: {f.message}" if f.severity == "hard_stop" else f.message,
            }
            for f in calc.findings
        ],
        "rule_ids": list(calc.rule_ids),
    }


# --- Orders ------------------------------------------------------------------------------------


class FindingOut(Schema):
    rule_id: str
    severity: str
    message: str


class OrderOut(Schema):
    id: int
    patient_id: int
    course_id: int | None
    lineage_id: int | None
    version: int
    supersedes_id: int | None
    superseded: bool
    status: str
    scope: str
    indication: str
    weight_basis: str
    sex_for_dosing: str
    weight_kg: Decimal
    weight_measured_on: date
    height_cm: Decimal | None
    dosing_weight_kg: Decimal
    dose_mg_per_kg: Decimal | None
    dose_mg_per_kg_per_h: Decimal | None
    duration_min: int
    concentration_mg_per_ml: Decimal
    dose_mg: Decimal
    volume_ml: Decimal
    rate_ml_per_h: Decimal
    blocked: bool
    findings: list[FindingOut]
    rule_ids: list[str]
    warning_reason: str
    override_reason: str
    change_reason: str
    created_at: datetime
    signed_at: datetime | None
    signed_by: str | None


class OrderIn(Schema):
    model_config = ConfigDict(extra="forbid")
    patient_id: Id
    course_id: Id | None = None
    scope: Literal["single", "standing"] = "single"
    indication: Literal["depression", "ptsd", "anxiety", "ocd", "pain"]
    weight_basis: Literal["actual", "ideal", "adjusted"] = "actual"
    sex: Literal["female", "male"]
    # The calculator's own bounds (CalculateIn above); the service applies LIM-* beyond them.
    dose_mg_per_kg: Decimal | None = Field(None, ge=Decimal("0.001"), le=10)
    dose_mg_per_kg_per_h: Decimal | None = Field(None, ge=Decimal("0.001"), le=10)
    bolus_mg_per_kg: Decimal | None = Field(None, ge=0, le=10)
    duration_min: int = Field(gt=0, le=24 * 60)
    concentration_mg_per_ml: Decimal = Field(gt=0, le=100)


class OrderReviseIn(Schema):
    model_config = ConfigDict(extra="forbid")
    change_reason: str = Field(max_length=2000)
    weight_basis: Literal["actual", "ideal", "adjusted"] | None = None
    dose_mg_per_kg: Decimal | None = Field(None, ge=Decimal("0.001"), le=10)
    dose_mg_per_kg_per_h: Decimal | None = Field(None, ge=Decimal("0.001"), le=10)
    duration_min: int | None = Field(None, gt=0, le=24 * 60)
    concentration_mg_per_ml: Decimal | None = Field(None, gt=0, le=100)


class SignIn(Schema):
    model_config = ConfigDict(extra="forbid")
    password: str = Field("", max_length=256)
    totp: str = Field("", max_length=16)
    warning_reason: str = Field("", max_length=2000)
    override_reason: str = Field("", max_length=2000, description="LIM-4 override reason")


def order_out(order: DosingOrder) -> dict[str, Any]:
    return {
        **{name: getattr(order, name) for name in OrderOut.model_fields if hasattr(order, name)},
        "superseded": bool(getattr(order, "is_superseded", False)),
        "signed_by": order.signed_by.full_name if order.signed_by_id else None,
    }


@router.get("/orders", response={200: list[OrderOut], **ERRORS}, tags=["orders"])
def list_orders(request: HttpRequest, patient_id: str = Query(...)) -> Any:
    """A patient's orders, newest first. Nurses see signed orders only."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    if not request.user.has_role_perm(Perm.ORDER_VIEW_SIGNED):
        raise PermissionDenied("Your role may not see dosing orders.")
    orders = orders_for_patient(user=request.user, patient=patient)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        detail={"orders": [o.pk for o in orders]},
    )
    return [order_out(o) for o in orders]


@router.post("/orders", response={201: OrderOut, **ERRORS}, tags=["orders"])
def create_order(request: HttpRequest, payload: OrderIn) -> Any:
    """A draft order computed from the patient's latest weight (WT-8) and height."""
    patient = patient_get_for_user(user=request.user, patient_id=payload.patient_id)
    if not request.user.has_role_perm(Perm.ORDER_WRITE):
        raise PermissionDenied("Only a prescriber writes dosing orders.")
    course = (
        course_get_for_user(user=request.user, course_id=payload.course_id)
        if payload.course_id is not None
        else None
    )
    order = services.dosing_order_create(
        actor=request.user,
        patient=patient,
        course=course,
        scope=payload.scope,
        indication=payload.indication,
        weight_basis=payload.weight_basis,
        sex_for_dosing=payload.sex,
        dose_mg_per_kg=payload.dose_mg_per_kg,
        dose_mg_per_kg_per_h=payload.dose_mg_per_kg_per_h,
        bolus_mg_per_kg=payload.bolus_mg_per_kg,
        duration_min=payload.duration_min,
        concentration_mg_per_ml=payload.concentration_mg_per_ml,
    )
    return Status(201, order_out(order))


@router.get("/orders/{order_id}", response={200: OrderOut, **ERRORS}, tags=["orders"])
def get_order(request: HttpRequest, order_id: str) -> Any:
    order = order_get_for_user(user=request.user, order_id=order_id)
    audit_record(actor=request.user, action=AuditAction.VIEW, patient=order.patient, obj=order)
    return order_out(order)


@router.get(
    "/orders/{order_id}/versions", response={200: list[OrderOut], **ERRORS}, tags=["orders"]
)
def get_order_versions(request: HttpRequest, order_id: str) -> Any:
    order = order_get_for_user(user=request.user, order_id=order_id)
    audit_record(actor=request.user, action=AuditAction.VIEW, patient=order.patient, obj=order)
    return [order_out(o) for o in order_versions(user=request.user, order=order)]


@router.post("/orders/{order_id}/sign", response={200: OrderOut, **ERRORS}, tags=["orders"])
def sign_order(request: HttpRequest, order_id: str, payload: SignIn) -> Any:
    """Sign a draft: the prescriber's password or a current TOTP code in the body (LIM-15);
    a reason when the order carries warnings."""
    order = order_get_for_user(user=request.user, order_id=order_id)
    order = services.dosing_order_sign(
        actor=request.user,
        order=order,
        password=payload.password,
        totp=payload.totp,
        warning_reason=payload.warning_reason,
        override_reason=payload.override_reason,
    )
    return order_out(order)


@router.post("/orders/{order_id}/revise", response={201: OrderOut, **ERRORS}, tags=["orders"])
def revise_order(request: HttpRequest, order_id: str, payload: OrderReviseIn) -> Any:
    """A new draft version that supersedes this order (a signed order never changes)."""
    order = order_get_for_user(user=request.user, order_id=order_id)
    changes = payload.model_dump(exclude_unset=True)
    reason = changes.pop("change_reason")
    new = services.dosing_order_revise(
        actor=request.user, order=order, change_reason=reason, changes=changes
    )
    return Status(201, order_out(new))
