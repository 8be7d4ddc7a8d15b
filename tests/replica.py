"""A `replica` database alias that does not answer (issue 20 section 1): a PostgreSQL connection
to a loopback port nothing listens on, in place for one test and removed after it.

The connection is created directly (not added to settings.DATABASES), so Django's test case sees a
dynamically created connection, which it always allows; the router is told a replica exists."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections
from django.db.utils import load_backend

from infusionclinic.common import dbrouter


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def unreachable_replica() -> Iterator[None]:
    config = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "ic_replica_nowhere",
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": str(closed_port()),
        "OPTIONS": {"connect_timeout": 1},
    }
    # configure_settings fills in the keys Django gives every alias (AUTOCOMMIT, TEST, ...).
    config = connections.configure_settings(
        {"default": dict(settings.DATABASES["default"]), "replica": config}
    )["replica"]
    connections["replica"] = load_backend(config["ENGINE"]).DatabaseWrapper(config, "replica")
    saved = dbrouter._replica_down_until, dbrouter.ReplicaRouter._has_replica
    dbrouter._replica_down_until = 0.0
    dbrouter.ReplicaRouter._has_replica = lambda self: True
    try:
        yield
    finally:
        try:
            connections["replica"].close()
        finally:
            del connections["replica"]
            dbrouter._replica_down_until, dbrouter.ReplicaRouter._has_replica = saved
