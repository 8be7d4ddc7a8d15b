"""`Invoice.infusion_running`: the pump's running time the infusion codes were derived from
(codes.md CODE-PX-R1, PX1-PX3), frozen at issue like the start and stop beside it.

Existing invoices tied to a session get it from that session's pump events, computed as
`selectors.infusion_timing` did when they were issued (start/resume to pause/stop, pauses
excluded; only when the last event is the stop). Invoices without a session or stop stay NULL."""

from datetime import timedelta

from django.db import migrations, models

CHUNK = 2000


def _running(events: list[tuple[str, object]]) -> timedelta | None:
    if not events or events[-1][0] != "stop":
        return None
    total = timedelta(0)
    since = None
    for action, at in events:
        if action in ("start", "resume") and since is None:
            since = at
        elif action in ("pause", "stop") and since is not None:
            total += at - since
            since = None
    return total


def backfill(apps, schema_editor) -> None:
    Invoice = apps.get_model("billing", "Invoice")
    PumpEvent = apps.get_model("infusions", "PumpEvent")
    pending = Invoice.objects.filter(
        infusion_session__isnull=False,
        infusion_stopped_at__isnull=False,
        infusion_running__isnull=True,
    ).order_by("pk")
    last = 0
    while True:
        invoices = list(pending.filter(pk__gt=last).only("pk", "infusion_session_id")[:CHUNK])
        if not invoices:
            return
        last = invoices[-1].pk
        events: dict[int, list[tuple[str, object]]] = {}
        rows = (
            PumpEvent.objects.filter(session_id__in={i.infusion_session_id for i in invoices})
            .order_by("session_id", "at", "pk")
            .values_list("session_id", "action", "at")
        )
        for session_id, action, at in rows:
            events.setdefault(session_id, []).append((action, at))
        changed = []
        for invoice in invoices:
            invoice.infusion_running = _running(events.get(invoice.infusion_session_id, []))
            if invoice.infusion_running is not None:
                changed.append(invoice)
        Invoice.objects.bulk_update(changed, ["infusion_running"])


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_invoice_infusion_session_fk"),
        ("infusions", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="infusion_running",
            field=models.DurationField(blank=True, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
