"""Retention of the controlled-substance records (CS-6, CS-7, CS-46).

Every record of this app is kept at least `conf.retention_years()` (CS-7 ⚠️, default 5, never
below the federal 2 of CS-6) from its date. Nothing here or elsewhere purges them: the software
never deletes a CS record by itself (CS-7), and a deletion asked for by hand (admin, shell,
a cascade) before the record's retention has run out is refused (CS-46). The ledger, counts,
destructions and reconciliations are append-only besides (CS-45)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import models
from django.db.models.signals import pre_delete
from django.utils import timezone

from . import conf


class RetentionError(Exception):
    """A controlled-substance record was to be deleted before its retention ran out (CS-46)."""


def _day(value: date | datetime | None) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return timezone.localdate(value) if timezone.is_aware(value) else value.date()
    return value


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February → 28 February
        return day.replace(year=day.year + years, day=28)


def record_date(obj: models.Model) -> date | None:
    """CS-46: the date a record's retention runs from — the latest date it records (an entry's
    event, a count, a destruction; a loss report's last step; a registration's expiry; a lot's
    last entry). None for a record that dates nothing (a product without lots)."""
    from .models import (
        Count,
        Destruction,
        Discrepancy,
        LedgerEntry,
        LossReport,
        Lot,
        Product,
        Reconciliation,
        Registration,
        StorageTransfer,
    )

    days: list[date | None] = []
    if isinstance(obj, (LedgerEntry, StorageTransfer, Destruction)):
        days = [_day(obj.occurred_at), _day(obj.recorded_at)]
    elif isinstance(obj, Count):
        days = [_day(obj.counted_at)]
    elif isinstance(obj, Reconciliation):
        days = [obj.business_date, _day(obj.signed_at)]
    elif isinstance(obj, Discrepancy):
        days = [_day(obj.opened_at), _day(obj.closed_at)]
    elif isinstance(obj, LossReport):
        days = [
            _day(obj.discovered_at),
            _day(obj.dea_notice_sent_at),
            _day(obj.form106_submitted_at),
        ]
    elif isinstance(obj, Registration):
        days = [obj.expires_on, _day(obj.recorded_at)]
    elif isinstance(obj, Lot):
        last = obj.entries.order_by("-occurred_at").values_list("occurred_at", flat=True).first()
        days = [_day(obj.created_at), _day(last)]
    elif isinstance(obj, Product):
        days = [record_date(lot) for lot in obj.lots.all()]
    known = [d for d in days if d is not None]
    return max(known) if known else None


def kept_until(obj: models.Model) -> date | None:
    """CS-7, CS-46: the first day the record may be deleted (its date + the retention years)."""
    day = record_date(obj)
    return None if day is None else _add_years(day, conf.retention_years())


def deletion_allowed(obj: models.Model, *, today: date | None = None) -> bool:
    until = kept_until(obj)
    return until is None or (today or timezone.localdate()) >= until


def _refuse_early_delete(sender: type[models.Model], instance: models.Model, **_: Any) -> None:
    if not deletion_allowed(instance):
        raise RetentionError(
            f"CS-46: {sender.__name__} {instance.pk} is kept until {kept_until(instance)} "
            f"({conf.retention_years()} years, CONTROLLED_RETENTION_YEARS); controlled-substance "
            "records are never purged before then."
        )


def connect() -> None:
    """Called from the app's ready(): guard every model of this app (CS-46)."""
    from django.apps import apps

    for model in apps.get_app_config("controlled").get_models():
        pre_delete.connect(
            _refuse_early_delete, sender=model, dispatch_uid=f"cs46-{model._meta.label}"
        )
