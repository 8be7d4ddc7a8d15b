"""PostgreSQL: the staff name search matches each word as a prefix of the given, preferred OR
family name key. With no pattern index on the preferred key, that OR could only be answered by a
sequential scan of every patient (measured: 35 ms at 20,000 patients, growing with the table).
With this index all three branches are index range scans combined by a BitmapOr, so the cost
follows the number of matches, not the number of patients (issue 13 operation d)."""

from django.db import migrations

FORWARD = [
    "CREATE INDEX IF NOT EXISTS patient_preferred_key_prefix "
    "ON patients_patient (preferred_name_key varchar_pattern_ops)",
]
REVERSE = ["DROP INDEX IF EXISTS patient_preferred_key_prefix"]


def _run(schema_editor, statements):
    if schema_editor.connection.vendor == "postgresql":
        for sql in statements:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("patients", "0004_search_key_pattern_indexes")]

    operations = [
        migrations.RunPython(lambda apps, se: _run(se, FORWARD), lambda apps, se: _run(se, REVERSE))
    ]
