from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q, QuerySet

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm

from .models import AuditEvent

# Sortable columns: the name the page uses -> the model field. An allow-list, never a raw
# request value in order_by().
SORT_FIELDS = {
    "seq": "seq",
    "when": "occurred_at",
    "user": "actor_email",
    "role": "actor_role",
    "action": "action",
    "patient": "patient__mrn",
    "object": "object_type",
    "object_id": "object_id",
    "address": "client_address",
    "channel": "channel",
}


@dataclass(frozen=True)
class AuditFilter:
    user_email: str = ""
    patient_mrn: str = ""
    action: str = ""
    date_from: date | None = None  # UTC calendar dates, inclusive
    date_to: date | None = None
    sort: str = "-seq"  # a SORT_FIELDS key, "-" for descending


def audit_events_for_user(*, user: User, filters: AuditFilter) -> QuerySet[AuditEvent]:
    """Events an admin may read: those about patients of their locations, and those about no
    patient (log-ins, refused look-ups). Sealed events only (the view seals pending ones first):
    they have their place in the chain, which the listing and its paging follow."""
    if not user.has_role_perm(Perm.AUDIT_REPORT):
        return AuditEvent.objects.none()
    qs = AuditEvent.objects.filter(
        Q(patient__isnull=True) | Q(patient__home_location__in=user.locations.all()),
        seq__isnull=False,
    ).select_related("patient")
    if filters.user_email:
        qs = qs.filter(actor_email__iexact=filters.user_email.strip())
    if filters.patient_mrn:
        qs = qs.filter(patient__mrn=filters.patient_mrn.strip())
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.date_from:
        qs = qs.filter(occurred_at__gte=datetime.combine(filters.date_from, time.min, tzinfo=UTC))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        qs = qs.filter(occurred_at__lt=end)
    descending = filters.sort.startswith("-")
    field = SORT_FIELDS.get(filters.sort.lstrip("-"), "seq")
    order = f"-{field}" if descending else field
    # seq breaks ties so paging is stable.
    return qs.order_by(order, "-seq" if descending else "seq")
