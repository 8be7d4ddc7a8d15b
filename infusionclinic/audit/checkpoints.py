"""Signed checkpoints of the chain head, kept outside the database (issue 22, point 4).

The keyed chain stops anyone without the key from rewriting an event, but not from dropping the
newest events and moving the head back to the last one kept: what is left is still a valid chain.
So the head is anchored periodically outside the database: `audit_checkpoint_write` (the
`audit_checkpoint` command and task, hourly from the systemd timer) writes a small JSON file —
the head's sequence number, its event's id and hash, the event count and the time — signed with
HMAC-SHA256 under the current audit key, into AUDIT_CHECKPOINT_DIR, and mails it to
AUDIT_CHECKPOINT_MAIL_TO when set. `verify_audit` loads every checkpoint there: each must verify,
its event must still be in the chain with the same id and hash, and the chain must reach it.

A checkpoint holds no patient data (sequence numbers, ids, hashes, a count and a time).
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from infusionclinic.common.mail import email_enqueue

from .hashing import UnknownKeyError, current_key_id, sign
from .models import AuditChainHead, AuditEvent

PURPOSE = "infusionclinic.audit.checkpoint"
VERSION = 1
PREFIX = "audit-checkpoint-"


class CheckpointError(Exception):
    """A checkpoint that cannot be written, or a file in the directory that does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    event_id: int
    hash: str
    event_key_id: str
    count: int
    written_at: str
    key_id: str  # the key that signed the checkpoint
    signature: str = ""
    name: str = ""

    def payload(self) -> dict[str, Any]:
        data = asdict(self)
        del data["signature"], data["name"]
        return {"version": VERSION, **data}


def _directory(directory: Path | None) -> Path:
    return Path(directory or settings.AUDIT_CHECKPOINT_DIR)


def audit_checkpoint_write(*, directory: Path | None = None) -> Checkpoint | None:
    """Seal what is pending, then write a signed checkpoint of the head. None when the log is
    empty or the newest checkpoint already shows this head."""
    from .services import audit_seal_pending

    audit_seal_pending()
    with transaction.atomic():
        head = AuditChainHead.objects.filter(pk=1).first()
        if head is None or head.seq == 0:
            return None
        event = AuditEvent.objects.filter(seq=head.seq).first()
        if event is None or event.hash != head.last_hash:
            raise CheckpointError(
                f"The chain head names #{head.seq}, which is not the log's last sealed event: "
                "run `manage.py verify_audit`."
            )
    target = _directory(directory)
    newest = max(checkpoints_load(target), key=lambda c: c.seq, default=None)
    if newest is not None and (newest.seq, newest.hash) == (event.seq, event.hash):
        return None
    key_id = current_key_id()
    checkpoint = Checkpoint(
        seq=event.seq,
        event_id=event.pk,
        hash=event.hash,
        event_key_id=event.key_id,
        count=event.seq,  # seq has no gaps: the number of events up to and including this one
        written_at=timezone.now().isoformat(timespec="seconds"),
        key_id=key_id,
    )
    signed = {**checkpoint.payload(), "signature": sign(checkpoint.payload(), key_id=key_id,
                                                        purpose=PURPOSE)}  # fmt: skip
    text = json.dumps(signed, indent=2, sort_keys=True) + "\n"
    target.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    path = target / f"{PREFIX}{event.seq:012d}-{stamp}.json"
    partial = path.with_suffix(".tmp")
    partial.write_text(text)
    os.chmod(partial, 0o640)
    os.replace(partial, path)  # whole or not at all
    if settings.AUDIT_CHECKPOINT_MAIL_TO:
        email_enqueue(
            subject=f"Audit log checkpoint #{event.seq}",
            body=(
                "The audit log's signed checkpoint, for safekeeping outside the clinic's "
                "database. Keep this mail: `manage.py verify_audit` checks the log against "
                f"checkpoints saved into {PREFIX}*.json files in AUDIT_CHECKPOINT_DIR.\n\n{text}"
            ),
            to=list(settings.AUDIT_CHECKPOINT_MAIL_TO),
        )
    return Checkpoint(**{**asdict(checkpoint), "signature": signed["signature"],
                         "name": path.name})  # fmt: skip


def checkpoints_load(directory: Path | None = None) -> list[Checkpoint]:
    """Every checkpoint in the directory, in sequence order; a file that does not parse or whose
    signature does not verify raises CheckpointError (a forged anchor is itself a finding)."""
    target = _directory(directory)
    if not target.is_dir():
        return []
    found = []
    for path in sorted(target.glob(f"{PREFIX}*.json")):
        found.append(_load(path))
    return sorted(found, key=lambda c: c.seq)


def _load(path: Path) -> Checkpoint:
    try:
        data = json.loads(path.read_text())
        if data.pop("version") != VERSION:
            raise ValueError("unknown version")
        checkpoint = Checkpoint(**data, name=path.name)
        if not isinstance(checkpoint.seq, int) or not isinstance(checkpoint.event_id, int):
            raise ValueError("seq and event_id must be integers")
        expected = sign(checkpoint.payload(), key_id=checkpoint.key_id, purpose=PURPOSE)
    except UnknownKeyError as exc:
        raise CheckpointError(
            f"checkpoint {path.name} is signed with key id {exc.args[0]!r}, not in AUDIT_HMAC_KEYS"
        ) from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path.name} cannot be read: {exc}") from None
    if not hmac.compare_digest(expected, str(checkpoint.signature)):
        raise CheckpointError(f"checkpoint {path.name}: its signature does not verify")
    return checkpoint
