import hashlib
import json
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


def event_hash(*, prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the event's fields."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_default)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    raise TypeError(f"Not serialisable in an audit event: {type(value).__name__}")


def hashed_fields(event: Any) -> dict[str, Any]:
    """The fields covered by the hash, read off an AuditEvent (saved or about to be)."""
    return {
        "seq": event.seq,
        "occurred_at": event.occurred_at,
        "actor_id": event.actor_id,
        "actor_email": event.actor_email,
        "actor_role": event.actor_role,
        "action": event.action,
        "patient_id": event.patient_id,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "client_address": event.client_address,
        "channel": event.channel,
        "detail": event.detail,
    }
