"""Who is acting, from where: set once per request (or per command) and read by the audit log, so
services need not thread the client address through every call."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class ClientContext:
    client_address: str  # an IP address, or "cli:<command>" / "task:<name>" off the web
    channel: str  # "web", "api", "cli" or "task"


_current: ContextVar[ClientContext | None] = ContextVar("client_context", default=None)


def current_client() -> ClientContext:
    return _current.get() or ClientContext(client_address="unknown", channel="unknown")


@contextlib.contextmanager
def client_context(*, client_address: str, channel: str) -> Iterator[ClientContext]:
    ctx = ClientContext(client_address=client_address, channel=channel)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
