"""Write, then seal (issue 13): `seq`, `prev_hash` and `hash` may be NULL until the event is sealed
into the chain, and on PostgreSQL the append-only trigger now lets exactly that seal through: the
three columns going from NULL to a value together, once, with every other column unchanged. Every
other UPDATE, every DELETE and TRUNCATE are still refused. Sealed rows look exactly as before, so
the existing chain keeps verifying and needs no data migration."""

from django.conf import settings
from django.db import migrations, models

PG_FORWARD = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND coalesce(current_setting('infusionclinic.allow_audit_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE'
       AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
       AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
       AND (to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash')
           = (to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash') THEN
        RETURN NEW;  -- the seal
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

PG_REVERSE = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND coalesce(current_setting('infusionclinic.allow_audit_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def _run_on_postgresql(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no params: the "%" in RAISE is not a placeholder


def trigger_forward(apps, schema_editor):
    _run_on_postgresql(schema_editor, PG_FORWARD)


def trigger_reverse(apps, schema_editor):
    _run_on_postgresql(schema_editor, PG_REVERSE)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_audit_actions_access"),
        ("patients", "0004_search_key_pattern_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(editable=False, max_length=64, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(editable=False, null=True, unique=True),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("seq__isnull", True)),
                fields=["id"],
                name="audit_event_unsealed",
            ),
        ),
        migrations.RunPython(trigger_forward, trigger_reverse),
    ]
