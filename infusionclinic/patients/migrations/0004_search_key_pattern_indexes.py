"""PostgreSQL: prefix search (`LIKE 'abc%'`) on the folded name keys can use a b-tree index only
with the pattern operator class unless the database collation is "C"; these indexes make the
staff search by family-name prefix an index scan at chain scale (issue 13). SQLite needs none
(its LIKE optimisation works on the existing indexes)."""

from django.db import migrations

FORWARD = [
    "CREATE INDEX IF NOT EXISTS patient_family_key_prefix "
    "ON patients_patient (family_name_key varchar_pattern_ops)",
    "CREATE INDEX IF NOT EXISTS patient_given_key_prefix "
    "ON patients_patient (given_name_key varchar_pattern_ops)",
]
REVERSE = [
    "DROP INDEX IF EXISTS patient_family_key_prefix",
    "DROP INDEX IF EXISTS patient_given_key_prefix",
]


def _run(schema_editor, statements):
    if schema_editor.connection.vendor == "postgresql":
        for sql in statements:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_emergency_access")]

    operations = [
        migrations.RunPython(lambda apps, se: _run(se, FORWARD), lambda apps, se: _run(se, REVERSE))
    ]
