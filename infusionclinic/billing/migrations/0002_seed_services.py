"""Seed the service catalogue from data/services.json (codes.md CODE-PX, code numbers with clinic
labels only, CODE-PX-R2)."""

import json
from pathlib import Path

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "services.json"


def seed(apps, schema_editor):
    BillableService = apps.get_model("billing", "BillableService")
    for row in json.loads(DATA.read_text(encoding="utf-8"))["services"]:
        BillableService.objects.update_or_create(
            code=row["code"],
            defaults={"label": row["label"], "rule_id": row["rule"], "timed": row["timed"]},
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
