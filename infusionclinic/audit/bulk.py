"""Append many audit events at once, already sealed into the hash chain (bulk loads such as
`manage.py seed_scale`).

`audit_chain_extend` takes the chain head's lock, gives each event the next `seq`, the previous
event's hash, the current key id and its own keyed hash (`hashing.chain_hash` over
`hashing.hashed_fields`, exactly what `verify_audit` recomputes), hands the sealed events to a
writer (COPY, bulk_create...) as a stream, and advances the head to the last one, all in one
transaction: the chain never forks and a failed write leaves it as it was.

Values must be what the database gives back when the event is read: `occurred_at` an aware UTC
datetime with microseconds (PostgreSQL and SQLite keep microseconds), `detail` JSON of str, int,
bool, None, lists and dicts (the hash sorts keys, so jsonb's key order does not matter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from .hashing import chain_hash, current_key_id, hashed_fields, hmac_key
from .models import AuditChainHead
from .services import _head_restore


@dataclass(slots=True)
class BulkEvent:
    """One event to append; `seq`, `prev_hash` and `hash` are set when it is sealed."""

    occurred_at: datetime
    action: str
    patient_id: int | None
    object_type: str = ""
    object_id: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    actor_id: int | None = None
    actor_email: str = ""
    actor_role: str = ""
    client_address: str = ""
    channel: str = ""
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""
    key_id: str = ""


def audit_chain_extend(
    events: Iterable[BulkEvent], *, write: Callable[[Iterator[BulkEvent]], None]
) -> int:
    """Seal `events` in order onto the chain and let `write` store them (it must consume the
    iterator it is given, in order, inside this transaction). Returns the number appended."""
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            _head_restore()
            head = AuditChainHead.objects.select_for_update().get(pk=1)
        start = seq = head.seq
        prev = head.last_hash
        key_id = current_key_id()
        key = hmac_key(key_id)

        def sealed() -> Iterator[BulkEvent]:
            nonlocal seq, prev
            for event in events:
                if event.occurred_at.utcoffset() is None:
                    raise ValueError("Audit events need aware datetimes.")
                event.occurred_at = event.occurred_at.astimezone(UTC)
                seq += 1
                event.seq = seq
                event.prev_hash = prev
                event.key_id = key_id
                event.hash = prev = chain_hash(
                    key_id=key_id, prev_hash=prev, fields=hashed_fields(event), key=key
                )
                yield event

        write(sealed())
        AuditChainHead.objects.filter(pk=1).update(seq=seq, last_hash=prev)
    return seq - start
