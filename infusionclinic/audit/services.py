from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError, models, transaction
from django.db.models import F
from django.utils import timezone

from infusionclinic.common.context import current_client

from .hashing import (
    GENESIS_HASH,
    LEGACY_KEY_ID,
    UnknownKeyError,
    chain_hash,
    current_key_id,
    hashed_fields,
    hmac_key,
)
from .models import AuditAction, AuditChainHead, AuditEvent

logger = logging.getLogger(__name__)

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
    patient_id: int | None = None,
) -> AuditEvent:
    """Record one event. Call it inside the transaction of the change it records, so the change
    and its event commit together or not at all. `patient_id` instead of `patient` when only the
    id is at hand (a hot path that has not loaded the patient row).

    How the event joins the chain depends on AUDIT_SEAL_MODE:
    - "after_commit" (PostgreSQL's default): the event is inserted unsealed, taking no shared
      lock, and sealed by `audit_seal` once the transaction commits, so concurrent writers never
      queue behind one another for the whole of their transactions;
    - "inline" (SQLite's default, which has one writer anyway, and the test suite's): the event
      is sealed as it is inserted, under the head lock, which is then held until commit.
    """
    client = current_client()
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor=actor if actor is not None and actor.pk else None,
        actor_email=getattr(actor, "email", "") or "",
        actor_role=getattr(actor, "role", "") or "",
        action=action,
        patient_id=patient.pk if patient is not None else patient_id,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        client_address=client.client_address,
        channel=client.channel,
        detail=detail or {},
        key_id=current_key_id(),
    )
    if settings.AUDIT_SEAL_MODE == "inline":
        # No savepoint of its own: a failure here must fail the caller's change anyway.
        with transaction.atomic(savepoint=False):
            # Updating the head first takes the lock that serialises sealers.
            if not AuditChainHead.objects.filter(pk=1).update(seq=F("seq") + 1):
                _head_restore()
                AuditChainHead.objects.filter(pk=1).update(seq=F("seq") + 1)
            head = AuditChainHead.objects.get(pk=1)
            event.seq = head.seq
            event.prev_hash = head.last_hash
            event.hash = chain_hash(
                key_id=event.key_id, prev_hash=head.last_hash, fields=hashed_fields(event)
            )
            event.save()
            AuditChainHead.objects.filter(pk=1).update(last_hash=event.hash)
        return event
    event.save()
    _seal_after_commit()
    return event


def audit_record_batch(
    *,
    actor: User | None,
    action: AuditAction,
    patient: Patient | None,
    objs: list[models.Model],
    details: list[dict[str, Any]],
    patient_id: int | None = None,
) -> None:
    """One event per object (the same actor, action and patient), written in one INSERT when
    sealing is after commit: a monitor's batch of readings costs one round trip, not one each."""
    if settings.AUDIT_SEAL_MODE == "inline":
        for obj, detail in zip(objs, details, strict=True):
            audit_record(
                actor=actor,
                action=action,
                patient=patient,
                patient_id=patient_id,
                obj=obj,
                detail=detail,
            )
        return
    if patient is not None:
        patient_id = patient.pk
    client = current_client()
    now = timezone.now()
    key_id = current_key_id()
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                occurred_at=now,
                actor=actor if actor is not None and actor.pk else None,
                actor_email=getattr(actor, "email", "") or "",
                actor_role=getattr(actor, "role", "") or "",
                action=action,
                patient_id=patient_id,
                object_type=obj._meta.label,
                object_id=str(obj.pk),
                client_address=client.client_address,
                channel=client.channel,
                detail=detail,
                key_id=key_id,
            )
            for obj, detail in zip(objs, details, strict=True)
        ]
    )
    _seal_after_commit()


def _seal_after_commit() -> None:
    """Register one sealing pass for when the current transaction commits (at once outside one).
    One per transaction is enough: the pass seals every event pending at that moment."""
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(
        hook is _seal_hook for _, hook, _ in connection.run_on_commit
    ):
        return
    transaction.on_commit(_seal_hook, robust=True)


# Inside a request the sealing pass waits until the response has gone out to the client (Django
# sends `request_finished` when the WSGI server closes the response, after writing it): the events
# are already durable through the request's own commit, so the client need not wait for the seal.
# Outside requests (commands, tasks, tests without the middleware) it runs at once after commit.
_request = threading.local()


@contextmanager
def seals_after_response() -> Iterator[None]:
    """Used by AuditSealMiddleware around the view: seals asked for meanwhile are deferred to
    `request_finished` (`seal_pending_after_response`)."""
    seal_pending_after_response()  # a previous response on this thread that was never closed
    _request.collecting = True
    try:
        yield
    finally:
        _request.collecting = False


def seal_pending_after_response(**_signal: Any) -> None:
    """The deferred pass, if this thread's request asked for one (`request_finished` receiver)."""
    if getattr(_request, "pending", False):
        _request.pending = False
        _seal_now()


def _seal_hook() -> None:
    if getattr(_request, "collecting", False):
        _request.pending = True
        return
    _seal_now()


def _seal_now() -> None:
    try:
        audit_seal(wait=False)
    except DatabaseError:
        # The change and its event are committed; only the seal failed (the database went
        # away, say). The next pass, any writer's or the periodic task's, seals it.
        logger.exception("Sealing audit events after commit failed; they stay pending.")


def _head_locked(*, wait: bool, lazy_commit: bool = False) -> AuditChainHead | None:
    """Lock the head row. With wait=False (SKIP LOCKED on PostgreSQL) answer None at once when
    another sealer holds it: that sealer looks for pending events again after releasing it.
    lazy_commit (PostgreSQL): the seal's commit does not wait for the WAL flush
    (synchronous_commit off for this transaction only): each event is already durable through
    its own transaction's commit, and WAL is flushed in order, so a crash can lose only the
    newest seals, never one that a surviving seal builds on — the events they covered are simply
    sealed again. This spares every audited request a second disk flush (measured 6.2 ms per
    flush on this machine, against 0.26 ms without it: bench/README.md)."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        head = _head_locked_postgresql(wait=wait, lazy_commit=lazy_commit)
    else:
        head = AuditChainHead.objects.select_for_update(skip_locked=not wait).filter(pk=1).first()
    if head is None and not AuditChainHead.objects.filter(pk=1).exists():
        _head_restore()
        if connection.vendor == "postgresql":
            head = _head_locked_postgresql(wait=True, lazy_commit=lazy_commit)
        else:
            head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


def _head_locked_postgresql(*, wait: bool, lazy_commit: bool) -> AuditChainHead | None:
    """The head row locked in one round trip, with `SET LOCAL synchronous_commit TO OFF` folded
    in as `set_config(…, is_local)` when asked (issue 20 §3: the seal runs after every audited
    request). Skipped (locked by another sealer): no row, and nothing of this transaction is
    committed that the setting could concern."""
    lazy = ", set_config('synchronous_commit', 'off', true)" if lazy_commit else ""
    lock = "FOR UPDATE" if wait else "FOR UPDATE SKIP LOCKED"
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"SELECT id, seq, last_hash{lazy} FROM audit_auditchainhead "  # noqa: S608 - constants
            f"WHERE id = 1 {lock}"
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return AuditChainHead.from_db(
        transaction.get_connection().alias, ["id", "seq", "last_hash"], row[:3]
    )


def _pending() -> models.QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(seq__isnull=True)


def audit_seal(*, wait: bool = True, batch_size: int | None = None) -> int:
    """Seal every committed, unsealed event into the chain, in insertion (id) order, in short
    transactions of up to AUDIT_SEAL_BATCH events under the head lock. Returns how many it sealed.

    With wait=False a pass that finds the head locked returns at once. No event is stranded by
    that: a sealer checks for pending events again *after* releasing the lock, so an event that
    committed before its writer found the lock taken is seen by the holder's check (or by the
    next holder, who reads pending events after taking the lock)."""
    batch = batch_size or settings.AUDIT_SEAL_BATCH
    sealed_total = 0
    own_transaction = not transaction.get_connection().in_atomic_block
    while True:
        with transaction.atomic():
            # Never relax the commit of a caller's transaction.
            head = _head_locked(wait=wait, lazy_commit=own_transaction)
            if head is None:
                return sealed_total
            pending = list(_pending().order_by("id")[:batch])
            if pending:
                _seal_into(head, pending)
        sealed_total += len(pending)
        if len(pending) == batch:
            continue
        if not _pending().exists():  # the re-check after releasing the lock (see above)
            return sealed_total


def _seal_into(head: AuditChainHead, events: list[AuditEvent]) -> None:
    seq, last_hash = head.seq, head.last_hash
    keys: dict[str, bytes] = {}
    for event in events:
        seq += 1
        event.seq = seq
        event.prev_hash = last_hash
        # The key id the writer recorded (AUDIT_HMAC_KEY_ID when it wrote): an event written
        # just before a rotation is sealed with the key its row names.
        key = None if event.key_id == LEGACY_KEY_ID else keys.get(event.key_id)
        if key is None and event.key_id != LEGACY_KEY_ID:
            key = keys[event.key_id] = hmac_key(event.key_id)
        event.hash = chain_hash(
            key_id=event.key_id, prev_hash=last_hash, fields=hashed_fields(event), key=key
        )
        last_hash = event.hash
    # The seal is the one update allowed (AuditEventQuerySet refuses update(); the PostgreSQL
    # trigger checks that only these three columns change, NULL -> value, once). Plain SQL, sent
    # as one batch (psycopg pipelines executemany): it runs after every request that audits.
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Events and head in one statement (one round trip): the events' UPDATE as a data-
            # modifying CTE over the arrays of their new values.
            cursor.execute(
                "WITH sealed AS (UPDATE audit_auditevent AS e "
                "SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], %s::varchar[]) "
                "AS v(id, seq, prev_hash, hash) WHERE e.id = v.id AND e.seq IS NULL) "
                "UPDATE audit_auditchainhead SET seq = %s, last_hash = %s WHERE id = 1",
                [
                    [e.pk for e in events],
                    [e.seq for e in events],
                    [e.prev_hash for e in events],
                    [e.hash for e in events],
                    seq,
                    last_hash,
                ],
            )
            return
        cursor.executemany(
            "UPDATE audit_auditevent SET seq = %s, prev_hash = %s, hash = %s "
            "WHERE id = %s AND seq IS NULL",
            [(e.seq, e.prev_hash, e.hash, e.pk) for e in events],
        )
        cursor.execute(
            "UPDATE audit_auditchainhead SET seq = %s, last_hash = %s WHERE id = 1",
            [seq, last_hash],
        )


def audit_seal_pending() -> None:
    """Seal what is pending before the log is read (the audit report, its CSV, verification)."""
    if _pending().exists():
        audit_seal(wait=True)


def _head_restore() -> None:
    """Put the head row back where the log ends (migration 0002 seeds it; a database flush, as the
    test runner does between transactional tests, removes it). Continuing from the last sealed
    event keeps the chain verifiable; a log emptied behind our back starts again from genesis."""
    last = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").first()
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


def audit_chain_verify(  # noqa: C901, PLR0911, PLR0912 - one walk, each check named
    *, chunk_size: int = 2000, seal_first: bool = True, checkpoint_dir: Path | None = None
) -> tuple[int, ChainProblem | None]:
    """Walk the chain in order, in constant memory. Returns (events checked, first problem).

    Each event's hash is recomputed with the key its key id names (an unknown key id is a
    problem; "legacy" unkeyed hashes only up to AUDIT_HMAC_LEGACY_MAX_SEQ), and the chain is held
    against every signed checkpoint in AUDIT_CHECKPOINT_DIR: each checkpoint's event must still
    be there with the same id and hash, and the chain must reach the newest checkpoint (a tail
    dropped and the head moved back is found so). On SQLite the append-only triggers must exist.

    Events left unsealed for longer than AUDIT_UNSEALED_MAX_AGE_SECONDS are a problem (the
    sealing after commit and the periodic task should both have sealed them): they are counted
    before this check seals what is pending, so that the walk also covers the newest events."""
    from .checkpoints import CheckpointError, checkpoints_load

    max_age = timedelta(seconds=settings.AUDIT_UNSEALED_MAX_AGE_SECONDS)
    stale = _pending().filter(occurred_at__lt=timezone.now() - max_age)
    stale_count = stale.count()
    oldest = stale.order_by("id").first() if stale_count else None
    try:
        checkpoints = {c.seq: c for c in checkpoints_load(checkpoint_dir)}
    except CheckpointError as exc:
        return 0, ChainProblem(0, None, str(exc))
    if seal_first:
        audit_seal(wait=True)
    legacy_max = settings.AUDIT_HMAC_LEGACY_MAX_SEQ
    keys: dict[str, bytes] = {}
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    events: Iterator[AuditEvent] = (
        AuditEvent.objects.filter(seq__isnull=False).order_by("seq").iterator(chunk_size=chunk_size)
    )
    for event in events:
        if event.seq != expected_seq:
            return checked, ChainProblem(
                event.seq, event.pk, f"sequence gap: expected #{expected_seq}, found #{event.seq}"
            )
        if event.prev_hash != expected_prev:
            return checked, ChainProblem(event.seq, event.pk, "previous-hash link is broken")
        key = None
        if event.key_id == LEGACY_KEY_ID:
            if event.seq > legacy_max:
                return checked, ChainProblem(
                    event.seq,
                    event.pk,
                    f'unkeyed ("legacy") hash after AUDIT_HMAC_LEGACY_MAX_SEQ={legacy_max}',
                )
        else:
            key = keys.get(event.key_id)
            if key is None:
                try:
                    key = keys[event.key_id] = hmac_key(event.key_id)
                except UnknownKeyError:
                    return checked, ChainProblem(
                        event.seq, event.pk, f"key id {event.key_id!r} is not in AUDIT_HMAC_KEYS"
                    )
        fields = hashed_fields(event)
        if chain_hash(key_id=event.key_id, prev_hash=event.prev_hash, fields=fields, key=key) != (
            event.hash
        ):
            return checked, ChainProblem(event.seq, event.pk, "content does not match its hash")
        checkpoint = checkpoints.get(event.seq)
        if checkpoint is not None and (checkpoint.event_id, checkpoint.hash) != (
            event.pk,
            event.hash,
        ):
            return checked, ChainProblem(
                event.seq, event.pk, f"differs from the signed checkpoint {checkpoint.name}"
            )
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    newest = max(checkpoints.values(), key=lambda c: c.seq, default=None)
    if newest is not None and newest.seq > checked:
        return checked, ChainProblem(
            newest.seq,
            newest.event_id,
            f"the signed checkpoint {newest.name} saw #{newest.seq}, the log ends at "
            f"#{checked}: events removed",
        )
    head = AuditChainHead.objects.get(pk=1)
    if head.seq != checked or head.last_hash != expected_prev:
        return checked, ChainProblem(
            head.seq, None, f"chain head says #{head.seq}, log ends at #{checked}: events removed"
        )
    if missing := sqlite_triggers_missing():
        return checked, ChainProblem(
            0, None, f"SQLite append-only trigger(s) missing: {', '.join(missing)}"
        )
    if oldest is not None:
        return checked, ChainProblem(
            oldest.seq or 0,
            oldest.pk,
            f"{stale_count} event(s) stayed unsealed longer than "
            f"{settings.AUDIT_UNSEALED_MAX_AGE_SECONDS} s (oldest recorded "
            f"{oldest.occurred_at.isoformat(timespec='seconds')}): is sealing running?",
        )
    return checked, None


SQLITE_TRIGGERS = ("audit_event_append_only_update", "audit_event_append_only_delete")


def sqlite_triggers_missing() -> list[str]:
    """The append-only triggers of migration 0006 that are not on the SQLite table (a later
    migration rebuilding the table drops them); always empty on PostgreSQL."""
    connection = transaction.get_connection()
    if connection.vendor != "sqlite":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
            [AuditEvent._meta.db_table],
        )
        present = {row[0] for row in cursor.fetchall()}
    return [name for name in SQLITE_TRIGGERS if name not in present]
