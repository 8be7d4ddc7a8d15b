from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from infusionclinic.common.context import current_client

from .hashing import GENESIS_HASH, event_hash, hashed_fields
from .models import AuditAction, AuditChainHead, AuditEvent

if TYPE_CHECKING:
    from infusionclinic.accounts.models import User
    from infusionclinic.patients.models import Patient


def audit_record(
    *,
    actor: User | None,
    action: AuditAction,
    patient: Patient | None = None,
    obj: models.Model | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain. Call it inside the transaction of the change it records, so
    the change and its event commit together or not at all."""
    client = current_client()
    with transaction.atomic():
        # Updating the head first takes the lock that serialises writers (see AuditChainHead).
        if not AuditChainHead.objects.filter(pk=1).update(seq=F("seq") + 1):
            _head_restore()
            AuditChainHead.objects.filter(pk=1).update(seq=F("seq") + 1)
        head = AuditChainHead.objects.get(pk=1)
        event = AuditEvent(
            seq=head.seq,
            occurred_at=timezone.now(),
            actor=actor if actor is not None and actor.pk else None,
            actor_email=getattr(actor, "email", "") or "",
            actor_role=getattr(actor, "role", "") or "",
            action=action,
            patient=patient,
            object_type=obj._meta.label if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            client_address=client.client_address,
            channel=client.channel,
            detail=detail or {},
        )
        event.prev_hash = head.last_hash
        event.hash = event_hash(prev_hash=head.last_hash, fields=hashed_fields(event))
        event.save()
        AuditChainHead.objects.filter(pk=1).update(last_hash=event.hash)
    return event


def _head_restore() -> None:
    """Put the head row back where the log ends (migration 0002 seeds it; a database flush, as the
    test runner does between transactional tests, removes it). Continuing from the last stored
    event keeps the chain verifiable; a log emptied behind our back starts again from genesis."""
    last = AuditEvent.objects.order_by("-seq").first()
    AuditChainHead.objects.get_or_create(
        pk=1,
        defaults={
            "seq": last.seq if last else 0,
            "last_hash": last.hash if last else GENESIS_HASH,
        },
    )


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    event_id: int | None
    reason: str


def audit_chain_verify(*, chunk_size: int = 2000) -> tuple[int, ChainProblem | None]:
    """Walk the chain in order, in constant memory. Returns (events checked, first problem)."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    events: Iterator[AuditEvent] = AuditEvent.objects.order_by("seq").iterator(
        chunk_size=chunk_size
    )
    for event in events:
        if event.seq != expected_seq:
            return checked, ChainProblem(
                event.seq, event.pk, f"sequence gap: expected #{expected_seq}, found #{event.seq}"
            )
        if event.prev_hash != expected_prev:
            return checked, ChainProblem(event.seq, event.pk, "previous-hash link is broken")
        if event_hash(prev_hash=event.prev_hash, fields=hashed_fields(event)) != event.hash:
            return checked, ChainProblem(event.seq, event.pk, "content does not match its hash")
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    head = AuditChainHead.objects.get(pk=1)
    if head.seq != checked or head.last_hash != expected_prev:
        return checked, ChainProblem(
            head.seq, None, f"chain head says #{head.seq}, log ends at #{checked}: events removed"
        )
    return checked, None
