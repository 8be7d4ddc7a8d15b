"""Reads of the controlled-substance log, scoped to the locations the user works at (CS-4)."""

from __future__ import annotations

from django.db.models import QuerySet

from infusionclinic.accounts.models import Location, User
from infusionclinic.common.access import denied
from infusionclinic.common.ids import id_from_path
from infusionclinic.dosing.models import DosingOrder, OrderStatus
from infusionclinic.dosing.selectors import orders_visible_to

from .ledger import dose_remaining_ml
from .models import Destruction, Discrepancy, EntryKind, LedgerEntry, LossReport, Lot, Registration


def lot_get_for_user(*, user: User, location: Location, lot_id: int | str) -> Lot:
    pk = id_from_path(lot_id)
    lot = (
        Lot.objects.select_related("product", "location").filter(location=location, pk=pk).first()
        if pk is not None
        else None
    )
    if lot is None:
        raise denied(user, "controlled.Lot", lot_id)
    return lot


def draw_get_for_user(*, user: User, location: Location, entry_id: int | str) -> LedgerEntry:
    pk = id_from_path(entry_id)
    entry = (
        LedgerEntry.objects.select_related("lot__product", "lot__location", "patient", "order")
        .filter(lot__location=location, kind=EntryKind.DRAW, pk=pk)
        .first()
        if pk is not None
        else None
    )
    if entry is None:
        raise denied(user, "controlled.LedgerEntry", entry_id)
    return entry


def discrepancy_get_for_user(
    *, user: User, location: Location, discrepancy_id: int | str
) -> Discrepancy:
    pk = id_from_path(discrepancy_id)
    found = (
        Discrepancy.objects.select_related("lot__product", "count")
        .filter(lot__location=location, pk=pk)
        .first()
        if pk is not None
        else None
    )
    if found is None:
        raise denied(user, "controlled.Discrepancy", discrepancy_id)
    return found


def lots_at(*, location: Location) -> QuerySet[Lot]:
    return Lot.objects.filter(location=location).select_related("product")


def entries_at(*, location: Location) -> QuerySet[LedgerEntry]:
    return (
        LedgerEntry.objects.filter(lot__location=location)
        .select_related("lot__product", "actor", "witness", "patient", "order")
        .order_by("-recorded_at", "-pk")
    )


def signed_orders_at(*, user: User, location: Location) -> QuerySet[DosingOrder]:
    """CS-42: the signed orders a draw may be tied to: patients of this location."""
    return (
        orders_visible_to(user=user)
        .filter(status=OrderStatus.SIGNED, patient__home_location=location)
        .select_related("patient")
        .order_by("-signed_at")
    )


def open_draws_at(*, location: Location) -> list[LedgerEntry]:
    """Draws whose dose is not yet fully administered or wasted (CS-43)."""
    draws = LedgerEntry.objects.filter(lot__location=location, kind=EntryKind.DRAW).select_related(
        "lot__product", "patient"
    )
    return [d for d in draws.order_by("-pk")[:200] if dose_remaining_ml(d) > 0]


def open_discrepancies_at(*, location: Location) -> QuerySet[Discrepancy]:
    return (
        Discrepancy.objects.filter(lot__location=location, status__in=["open", "investigated"])
        .select_related("lot__product", "count")
        .order_by("-opened_at")
    )


def registrations_at(*, location: Location) -> QuerySet[Registration]:
    return Registration.objects.filter(location=location).order_by("-expires_on", "-pk")


def destructions_at(*, location: Location) -> QuerySet[Destruction]:
    return (
        Destruction.objects.filter(location=location)
        .select_related("witness_1", "witness_2", "recorded_by")
        .prefetch_related("entries__lot__product")
        .order_by("-occurred_at", "-pk")
    )


def destruction_get_for_user(
    *, user: User, location: Location, destruction_id: int | str
) -> Destruction:
    pk = id_from_path(destruction_id)
    found = (
        Destruction.objects.select_related("location", "registration")
        .filter(location=location, pk=pk)
        .first()
        if pk is not None
        else None
    )
    if found is None:
        raise denied(user, "controlled.Destruction", destruction_id)
    return found


def loss_report_get_for_user(*, user: User, location: Location, report_id: int | str) -> LossReport:
    pk = id_from_path(report_id)
    found = (
        LossReport.objects.select_related("location", "registration", "opened_by")
        .filter(location=location, pk=pk)
        .first()
        if pk is not None
        else None
    )
    if found is None:
        raise denied(user, "controlled.LossReport", report_id)
    return found
