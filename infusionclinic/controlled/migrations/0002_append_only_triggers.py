"""CS-45: on PostgreSQL the database itself refuses UPDATE and DELETE of ledger entries and counts
(row triggers; the test runner's TRUNCATE is not affected)."""

from django.db import migrations

TABLES = ("controlled_ledgerentry", "controlled_count")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION controlled_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'controlled-substance records are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(PG_FUNCTION)
        for table in TABLES:
            cursor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION controlled_refuse_change();"
            )


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
        cursor.execute("DROP FUNCTION IF EXISTS controlled_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("controlled", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse)]
