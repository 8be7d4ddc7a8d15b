"""SQLite gets the append-only triggers PostgreSQL has had since 0002/0004 (issue 22, point 4):
every UPDATE of an event is refused except the seal (seq, prev_hash and hash going from NULL to a
value together, every other column unchanged), and every DELETE unless the SQL function
`ic_audit_delete_allowed()` (registered on each SQLite connection by `apps.py`, answering
AUDIT_SQLITE_ALLOW_DELETE, on only in the test settings) says 1.

A later migration that alters this table on SQLite rebuilds it (Django copies it into a new table),
which drops these triggers: such a migration must create them again (`SQLITE_FORWARD`), and
verify_audit reports them missing."""

from django.db import migrations

COLUMNS = [
    "id",
    "occurred_at",
    "actor_id",
    "actor_email",
    "actor_role",
    "action",
    "patient_id",
    "object_type",
    "object_id",
    "client_address",
    "channel",
    "detail",
    "key_id",
]

SQLITE_FORWARD = [
    f"""
CREATE TRIGGER audit_event_append_only_update BEFORE UPDATE ON audit_auditevent
WHEN NOT (
    OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
    AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
    AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in COLUMNS)}
)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused');
END
""",
    """
CREATE TRIGGER audit_event_append_only_delete BEFORE DELETE ON audit_auditevent
WHEN ic_audit_delete_allowed() IS NOT 1
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused');
END
""",
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS audit_event_append_only_update",
    "DROP TRIGGER IF EXISTS audit_event_append_only_delete",
]


def _run_on_sqlite(schema_editor, statements):
    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def forward(apps, schema_editor):
    _run_on_sqlite(schema_editor, SQLITE_FORWARD)


def reverse(apps, schema_editor):
    _run_on_sqlite(schema_editor, SQLITE_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_auditevent_key_id")]

    operations = [migrations.RunPython(forward, reverse)]
