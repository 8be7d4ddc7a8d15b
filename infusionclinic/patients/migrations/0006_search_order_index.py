"""PostgreSQL: the staff search returns patients in the order of their folded names, compared
byte-wise (COLLATE "C", the same order SQLite's BINARY gives and Python's str gives), so that one
b-tree answers both the family-name prefix (`LIKE 'smi%'` is a range scan on a "C" column) and
the order. The search reads each branch in index order and stops after the page it needs: the
cost follows the page size, not the number of patients matching the prefix (issue 13 operation d
and the search page). This index supersedes the family key's pattern index of 0004."""

from django.db import migrations

FORWARD = [
    "CREATE INDEX IF NOT EXISTS patient_name_order ON patients_patient "
    '(family_name_key COLLATE "C", given_name_key COLLATE "C", id)',
    "DROP INDEX IF EXISTS patient_family_key_prefix",
]
REVERSE = [
    "CREATE INDEX IF NOT EXISTS patient_family_key_prefix "
    "ON patients_patient (family_name_key varchar_pattern_ops)",
    "DROP INDEX IF EXISTS patient_name_order",
]


def _run(schema_editor, statements):
    if schema_editor.connection.vendor == "postgresql":
        for sql in statements:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("patients", "0005_preferred_key_pattern_index")]

    operations = [
        migrations.RunPython(lambda apps, se: _run(se, FORWARD), lambda apps, se: _run(se, REVERSE))
    ]
