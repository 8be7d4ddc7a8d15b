"""The keyed chain (issue 22, point 4): each event records the id of the HMAC key that sealed it.
Events already in the log keep their plain SHA-256 hashes under the key id "legacy" (they cannot be
re-sealed: the table is append-only); verify_audit accepts them only up to
AUDIT_HMAC_LEGACY_MAX_SEQ, which this migration prints when there are any. Seal pending events
(`manage.py audit_seal`) before migrating: an event still unsealed here is sealed as legacy."""

from django.db import migrations, models


def report_legacy(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    last = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").first()
    if last is not None:
        print(  # noqa: T201 - an operator's instruction, once, during the upgrade
            f"\n  audit: {last.seq} events sealed before the chain was keyed keep key id "
            f'"legacy". Set AUDIT_HMAC_LEGACY_MAX_SEQ={last.seq} in the environment, then run '
            "`manage.py audit_checkpoint`."
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_write_then_seal")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(default="legacy", editable=False, max_length=32),
        ),
        migrations.RunPython(report_legacy, migrations.RunPython.noop),
    ]
