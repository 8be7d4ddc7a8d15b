"""Read replica routing (issue 13 item 4).

When `DATABASE_REPLICA_URL` is set, settings add a `replica` database alias. Only reads that run
inside `lag_tolerant_reads()` go there: the clinic analytics, whose figures may be a few seconds
behind without harm. Every write and every other read (charts, sessions, the audit chain, log-in)
stays on `default`, so nothing that must see its own last write ever reads a lagging copy.
Without a replica the context manager changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings

REPLICA = "replica"
PRIMARY = "default"

_lag_tolerant: ContextVar[bool] = ContextVar("lag_tolerant_reads", default=False)


@contextmanager
def lag_tolerant_reads() -> Iterator[None]:
    """Reads in this block may be served by the replica (if one is configured)."""
    token = _lag_tolerant.set(True)
    try:
        yield
    finally:
        _lag_tolerant.reset(token)


def reads_tolerate_lag() -> bool:
    return _lag_tolerant.get()


class ReplicaRouter:
    """Django database router: `replica` for lag-tolerant reads, `default` for everything else.

    `databases` is the DATABASES mapping to route over (settings.DATABASES when not given), so the
    routing decision is testable without a second server."""

    def __init__(self, databases: dict[str, Any] | None = None) -> None:
        self._databases = databases

    def _has_replica(self) -> bool:
        databases = self._databases if self._databases is not None else settings.DATABASES
        return REPLICA in databases

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        # Code inside lag_tolerant_reads() only reads: it never needs to see its own writes.
        if reads_tolerate_lag() and self._has_replica():
            return REPLICA
        return PRIMARY

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
