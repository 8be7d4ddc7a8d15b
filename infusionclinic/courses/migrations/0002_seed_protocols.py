"""Seed the clinic-default protocols (version 1, no clinic) from data/protocols.json."""

import json
from pathlib import Path

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "protocols.json"


def seed(apps, schema_editor):
    Protocol = apps.get_model("courses", "Protocol")
    # Only the fields this migration's model has (later columns, such as the check-in schedule
    # of 0003, are filled by their own migrations).
    fields = {f.name for f in Protocol._meta.get_fields()}
    for row in json.loads(DATA.read_text(encoding="utf-8"))["protocols"]:
        row = {k: v for k, v in row.items() if k in fields}
        Protocol.objects.get_or_create(key=row["key"], version=1, defaults=row)


def unseed(apps, schema_editor):
    Protocol = apps.get_model("courses", "Protocol")
    Protocol.objects.filter(clinic__isnull=True, version=1, courses__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("courses", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
