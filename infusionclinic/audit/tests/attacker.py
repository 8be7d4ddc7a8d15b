"""Edit the audit table behind the application's back, as an attacker with SQL access would: past
the append-only triggers (PostgreSQL: `session_replication_role = replica`, which a superuser may
set; SQLite: the triggers dropped and created again afterwards)."""

import importlib

from django.db import connection

_sqlite_triggers = importlib.import_module(
    "infusionclinic.audit.migrations.0006_sqlite_append_only_triggers"
)


def tamper(sql: str, params: list) -> None:
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET LOCAL session_replication_role = replica")
            cur.execute(sql, params)
            return
        for drop in _sqlite_triggers.SQLITE_REVERSE:
            cur.execute(drop)
        try:
            cur.execute(sql, params)
        finally:
            for create in _sqlite_triggers.SQLITE_FORWARD:
                cur.execute(create)
