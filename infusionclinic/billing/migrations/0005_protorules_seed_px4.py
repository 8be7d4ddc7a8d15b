"""Add the services data/services.json gained after 0002 (codes.md CODE-PX4: 96367 sequential and
96368 concurrent infusion), with clinic-written labels only (CODE-PX-R2). Existing rows keep
their labels; only missing codes are created."""

import json
from pathlib import Path

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "services.json"


def seed(apps, schema_editor):
    BillableService = apps.get_model("billing", "BillableService")
    for row in json.loads(DATA.read_text(encoding="utf-8"))["services"]:
        BillableService.objects.get_or_create(
            code=row["code"],
            defaults={"label": row["label"], "rule_id": row["rule"], "timed": row["timed"]},
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_invoice_infusion_running")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
