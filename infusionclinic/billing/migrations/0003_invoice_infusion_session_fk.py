"""`Invoice.infusion_session_id` (a bare integer while the infusions app was built in parallel)
becomes a foreign key to `infusions.InfusionSession` (on_delete=PROTECT, indexed).

The column keeps its name and its values: on the database this is one ALTER of the column (the
CHECK of the positive integer goes, the index and the foreign-key constraint come); in the
migration state the integer field is replaced by the `infusion_session` foreign key, whose column
is that same `infusion_session_id`.

An invoice whose session id names no session stops the migration before any change, listing the
invoices and the missing ids: a billed infusion's link is evidence of where its codes came from
(codes.md CODE-PX-R1), so it is never dropped silently. Fix or clear those rows by hand (the
invoice keeps its frozen lines and pump start/stop either way), then migrate again."""

from django.db import migrations, models
from django.db.models import Exists, OuterRef

SHOWN = 50


class DanglingInfusionSessions(RuntimeError):
    pass


def dangling_sessions(apps) -> list[tuple[int, int]]:
    """(invoice id, session id) of every invoice whose session id names no session."""
    Invoice = apps.get_model("billing", "Invoice")
    InfusionSession = apps.get_model("infusions", "InfusionSession")
    return list(
        Invoice.objects.filter(infusion_session_id__isnull=False)
        .exclude(Exists(InfusionSession.objects.filter(pk=OuterRef("infusion_session_id"))))
        .order_by("pk")
        .values_list("pk", "infusion_session_id")
    )


def refuse_dangling(apps, schema_editor) -> None:
    rows = dangling_sessions(apps)
    if not rows:
        return
    shown = ", ".join(f"invoice {i} -> session {s}" for i, s in rows[:SHOWN])
    more = f" (and {len(rows) - SHOWN} more)" if len(rows) > SHOWN else ""
    raise DanglingInfusionSessions(
        f"billing.0003: {len(rows)} invoice(s) name an infusion session that does not exist: "
        f"{shown}{more}. Nothing was changed. Correct each row's infusion_session_id, or set it "
        "to NULL after review (the invoice keeps its lines and pump start/stop), then migrate "
        "again."
    )


def _session_fk(**extra):
    return models.ForeignKey(
        blank=True,
        null=True,
        db_index=True,
        on_delete=models.deletion.PROTECT,
        to="infusions.infusionsession",
        **extra,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_seed_services"),
        ("infusions", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(refuse_dangling, migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(
            # The database: the same column, altered in place (values kept).
            database_operations=[
                migrations.AlterField(
                    model_name="invoice",
                    name="infusion_session_id",
                    field=_session_fk(db_column="infusion_session_id", related_name="+"),
                ),
            ],
            # The state: the integer field gives way to the foreign key on that column.
            state_operations=[
                migrations.RemoveField(model_name="invoice", name="infusion_session_id"),
                migrations.AddField(
                    model_name="invoice",
                    name="infusion_session",
                    field=_session_fk(related_name="invoices"),
                ),
            ],
        ),
    ]
