"""Reads of dosing orders, scoped by the user: nurses see signed orders only (drafts are the
prescriber's work in progress)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Exists, OuterRef, QuerySet

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm
from infusionclinic.common.access import denied
from infusionclinic.common.ids import id_from_path
from infusionclinic.patients.models import BodyMeasurement, MeasurementKind, Patient
from infusionclinic.patients.selectors import patients_visible_to

from .models import DosingOrder, OrderStatus

TITRATION_HISTORY = 20


def orders_visible_to(*, user: User) -> QuerySet[DosingOrder]:
    qs = DosingOrder.objects.filter(patient__in=patients_visible_to(user=user))
    if user.has_role_perm(Perm.ORDER_WRITE):
        return qs
    if user.has_role_perm(Perm.ORDER_VIEW_SIGNED):
        return qs.filter(status=OrderStatus.SIGNED)
    return qs.none()


def _with_superseded(qs: QuerySet[DosingOrder]) -> QuerySet[DosingOrder]:
    newer_signed = DosingOrder.objects.filter(supersedes=OuterRef("pk"), status=OrderStatus.SIGNED)
    return qs.annotate(is_superseded=Exists(newer_signed))


def order_get_for_user(*, user: User, order_id: int | str) -> DosingOrder:
    """The order if this user may see it; otherwise Http404 and a `denied` event (another
    location's order, another patient's, or a draft for a nurse all look alike)."""
    text = str(order_id)
    pk = id_from_path(text)
    order = (
        _with_superseded(orders_visible_to(user=user))
        .select_related("patient", "patient__home_location", "course", "signed_by", "created_by")
        .filter(pk=pk)
        .first()
        if pk is not None
        else None
    )
    if order is None:
        raise denied(user, "dosing.DosingOrder", text, "No such order.")
    return order


def orders_for_patient(*, user: User, patient: Patient) -> list[DosingOrder]:
    return list(
        _with_superseded(orders_visible_to(user=user).filter(patient=patient)).select_related(
            "signed_by", "created_by"
        )[:TITRATION_HISTORY]
    )


def order_versions(*, user: User, order: DosingOrder) -> list[DosingOrder]:
    return list(
        orders_visible_to(user=user)
        .filter(lineage_id=order.lineage_id)
        .order_by("version")
        .select_related("signed_by")
    )


def previous_signed_order(
    *, patient: Patient, exclude_lineage: int | None = None
) -> DosingOrder | None:
    """The latest signed order, for LIM-10's comparison with the previous session."""
    qs = DosingOrder.objects.filter(patient=patient, status=OrderStatus.SIGNED)
    if exclude_lineage is not None:
        qs = qs.exclude(lineage_id=exclude_lineage)
    return qs.order_by("-signed_at", "-pk").first()


@dataclass(frozen=True)
class BodyValues:
    weight: BodyMeasurement | None
    previous_weight: BodyMeasurement | None  # LIM-11
    height: BodyMeasurement | None


def body_values(*, patient: Patient, on: date | None = None) -> BodyValues:
    weights = BodyMeasurement.objects.filter(patient=patient, kind=MeasurementKind.WEIGHT)
    if on is not None:
        weights = weights.filter(measured_on__lte=on)
    latest_two = list(weights.order_by("-measured_on", "-created_at")[:2])
    height = (
        BodyMeasurement.objects.filter(patient=patient, kind=MeasurementKind.HEIGHT)
        .order_by("-measured_on", "-created_at")
        .first()
    )
    return BodyValues(
        weight=latest_two[0] if latest_two else None,
        previous_weight=latest_two[1] if len(latest_two) > 1 else None,
        height=height,
    )


@dataclass(frozen=True)
class TitrationHistory:
    """What titration rests on (issue 6): earlier orders, the weights. Scores, side effects and
    blood pressure are slots that later issues fill (outcomes: issue 5; infusions' vitals and
    side effects); until then the order page says they are not recorded here yet."""

    orders: list[DosingOrder]
    weights: list[BodyMeasurement]
    height: BodyMeasurement | None


def titration_history(*, user: User, patient: Patient) -> TitrationHistory:
    return TitrationHistory(
        orders=orders_for_patient(user=user, patient=patient),
        weights=list(
            BodyMeasurement.objects.filter(patient=patient, kind=MeasurementKind.WEIGHT).order_by(
                "-measured_on", "-created_at"
            )[:10]
        ),
        height=body_values(patient=patient).height,
    )
