"""Read replica routing (issue 13 item 4; issue 20 section 1).

When `DATABASE_REPLICA_URL` is set, settings add a `replica` database alias. Only reads that run
inside `lag_tolerant_reads()` go there: the clinic analytics, whose figures may be a few seconds
behind without harm. Every write and every other read (charts, sessions, the audit chain, log-in)
stays on `default`, so nothing that must see its own last write ever reads a lagging copy.
Without a replica the context manager changes nothing.

Two exceptions send a lag-tolerant block to the primary after all (issue 20):
- the replica does not answer: the first routed read of a block probes it once; when it is down
  the block reads the primary and a warning is logged, and the replica is not tried again for
  REPLICA_RETRY_SECONDS (per process). A replica that dies in the middle of a block (a restart
  cuts its queries) fails that block's next query like any database error; `read_lag_tolerant`
  then runs the whole block again on the primary (its reads are safe to repeat).
- read-your-writes: `ReadYourWritesMiddleware` marks a user's requests for
  REPLICA_READ_YOUR_WRITES_SECONDS after each POST/PUT/PATCH/DELETE they make (and the unsafe
  request itself), and marked requests read the primary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connections

REPLICA = "replica"
PRIMARY = "default"

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Block:
    primary_only: bool  # read-your-writes: this request follows a write by its user
    replica_ok: bool | None = None  # probed on the block's first routed read


_block: ContextVar[_Block | None] = ContextVar("lag_tolerant_reads", default=None)
# Set by ReadYourWritesMiddleware for the duration of a request that must see its user's writes.
_must_see_own_writes: ContextVar[bool] = ContextVar("must_see_own_writes", default=False)
_replica_down_until = 0.0  # time.monotonic() before which the replica is not tried again


@contextmanager
def lag_tolerant_reads() -> Iterator[None]:
    """Reads in this block may be served by the replica (if one is configured and answers, and
    the request is not one that must see its own writes). A nested block keeps the outer one's
    decision."""
    if _block.get() is not None:
        yield
        return
    token = _block.set(_Block(primary_only=_must_see_own_writes.get()))
    try:
        yield
    finally:
        _block.reset(token)


def read_lag_tolerant(read: Callable[[], T]) -> T:
    """`read()`, which only reads, inside `lag_tolerant_reads()`. When it fails with a database
    error after the block chose the replica and the replica's connection no longer answers (a
    replica restarted or died in mid-block: issue 20's fault run), the replica is avoided as
    when it does not answer (`replica_available`) and `read()` runs once more, on the primary.
    Inside an outer block it only runs `read()`."""
    if _block.get() is not None:
        return read()
    with lag_tolerant_reads():
        block = _block.get()
        try:
            return read()
        except DatabaseError as exc:
            if not (block and block.replica_ok) or _replica_answers():
                raise
            _avoid_replica(
                exc, "Read replica failed during lag-tolerant reads; read again on the primary"
            )
    with own_writes_visible(), lag_tolerant_reads():
        return read()


def _replica_answers() -> bool:
    if REPLICA not in settings.DATABASES:
        return False
    with suppress(DatabaseError):
        return connections[REPLICA].is_usable()
    return False


def reads_tolerate_lag() -> bool:
    return _block.get() is not None


@contextmanager
def own_writes_visible() -> Iterator[None]:
    """Lag-tolerant reads inside this block read the primary (read-your-writes)."""
    token = _must_see_own_writes.set(True)
    try:
        yield
    finally:
        _must_see_own_writes.reset(token)


def replica_available() -> bool:
    """Whether the `replica` connection answers now; logs a warning and keeps away from it for
    REPLICA_RETRY_SECONDS when it does not."""
    if time.monotonic() < _replica_down_until:
        return False
    connection = connections[REPLICA]
    try:
        connection.ensure_connection()
        if not connection.is_usable():  # a persistent connection whose server went away
            connection.close()
            connection.ensure_connection()
        return True
    except DatabaseError as exc:
        _avoid_replica(exc, "Read replica unavailable")
        return False


def _avoid_replica(exc: DatabaseError, what: str) -> None:
    """Keep lag-tolerant reads on the primary for REPLICA_RETRY_SECONDS, say so, and drop the
    replica's connection."""
    global _replica_down_until
    retry = settings.REPLICA_RETRY_SECONDS
    _replica_down_until = time.monotonic() + retry
    logger.warning(
        "%s (%s); lag-tolerant reads use the primary for %s s.",
        what,
        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        retry,
    )
    if REPLICA in settings.DATABASES:
        with suppress(DatabaseError):
            connections[REPLICA].close()


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


class ReplicaRouter:
    """Django database router: `replica` for lag-tolerant reads, `default` for everything else.

    `databases` is the DATABASES mapping to route over (settings.DATABASES when not given), so the
    routing decision is testable without a second server; `probe` tells whether the replica
    answers (given `databases`, the replica is taken to answer unless a probe says otherwise)."""

    def __init__(
        self,
        databases: dict[str, Any] | None = None,
        *,
        probe: Callable[[], bool] | None = None,
    ) -> None:
        self._databases = databases
        if probe is None:
            probe = replica_available if databases is None else (lambda: True)
        self._probe = probe

    def _has_replica(self) -> bool:
        databases = self._databases if self._databases is not None else settings.DATABASES
        return REPLICA in databases

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        # Code inside lag_tolerant_reads() only reads: it never needs to see its own writes.
        block = _block.get()
        if block is None or block.primary_only or not self._has_replica():
            return PRIMARY
        if block.replica_ok is None:
            block.replica_ok = self._probe()
        return REPLICA if block.replica_ok else PRIMARY

    def db_for_write(self, model: type, **hints: Any) -> str:
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # The replica is a copy of the primary: rows read from either may be related.
        if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # The replica receives the schema by replication, never by `migrate`.
        return db != REPLICA
