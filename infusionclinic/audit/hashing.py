"""The chain's hashes.

Since issue 22 (point 4) each event's hash is HMAC-SHA256, under a key kept outside the database
(`AUDIT_HMAC_KEYS`), over its key id, the previous event's hash and a canonical JSON of its
fields: whoever can write the database but does not hold the key cannot recompute the chain
after editing an event. The key id is stored on the event, so keys can be rotated and old events
still verify. Events sealed before the chain was keyed keep their plain SHA-256 (`event_hash`)
under the key id "legacy", accepted only up to `AUDIT_HMAC_LEGACY_MAX_SEQ`.
"""

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

GENESIS_HASH = "0" * 64
LEGACY_KEY_ID = "legacy"
DEV_KEY_ID = "dev"


class UnknownKeyError(KeyError):
    """An event or checkpoint names a key id that AUDIT_HMAC_KEYS does not hold."""


def _canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_default)


def event_hash(*, prev_hash: str, fields: dict[str, Any]) -> str:
    """The legacy, unkeyed hash: SHA-256 over the previous hash and the event's fields."""
    return hashlib.sha256(f"{prev_hash}\n{_canonical(fields)}".encode()).hexdigest()


def hmac_keys() -> dict[str, bytes]:
    """Every configured key by id; without AUDIT_HMAC_KEYS (development, tests) one key derived
    from SECRET_KEY under the id "dev" (production refuses to start that way)."""
    configured = settings.AUDIT_HMAC_KEYS
    if not configured:
        derived = hashlib.sha256(f"infusionclinic.audit.hmac:{settings.SECRET_KEY}".encode())
        return {DEV_KEY_ID: derived.hexdigest().encode()}
    return {key_id: key.encode() for key_id, key in configured.items()}


def current_key_id() -> str:
    """The key id new events are sealed with (AUDIT_HMAC_KEY_ID, else the only key)."""
    keys = hmac_keys()
    key_id = settings.AUDIT_HMAC_KEY_ID or next(iter(keys))
    if key_id not in keys or key_id == LEGACY_KEY_ID:
        raise ImproperlyConfigured("AUDIT_HMAC_KEY_ID must name a key in AUDIT_HMAC_KEYS.")
    return key_id


def hmac_key(key_id: str) -> bytes:
    try:
        return hmac_keys()[key_id]
    except KeyError:
        raise UnknownKeyError(key_id) from None


def chain_hash(
    *, key_id: str, prev_hash: str, fields: dict[str, Any], key: bytes | None = None
) -> str:
    """The hash an event carries in the chain: HMAC-SHA256 under its key id's key (the key id
    itself is part of the message, so an event cannot be moved to another key), or the legacy
    SHA-256 for events sealed before the chain was keyed. `key` spares the look-up in loops."""
    if key_id == LEGACY_KEY_ID:
        return event_hash(prev_hash=prev_hash, fields=fields)
    message = f"{key_id}\n{prev_hash}\n{_canonical(fields)}".encode()
    return hmac.new(key or hmac_key(key_id), message, hashlib.sha256).hexdigest()


def sign(payload: dict[str, Any], *, key_id: str, purpose: str) -> str:
    """HMAC-SHA256 over a canonical JSON of `payload` (checkpoints), separated by purpose from
    the events' own HMACs."""
    message = f"{purpose}\n{_canonical(payload)}".encode()
    return hmac.new(hmac_key(key_id), message, hashlib.sha256).hexdigest()


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
