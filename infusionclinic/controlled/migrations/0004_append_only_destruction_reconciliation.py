"""CS-45 on PostgreSQL for the new insert-only records: Form 41 destructions / returns and the
signed daily reconciliations refuse UPDATE and DELETE (the function is 0002's)."""

from django.db import migrations

TABLES = ("controlled_destruction", "controlled_reconciliation")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
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


class Migration(migrations.Migration):
    dependencies = [("controlled", "0003_registration_destruction_loss_reconciliation")]

    operations = [migrations.RunPython(forward, reverse)]
