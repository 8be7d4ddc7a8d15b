"""Seed the clinic-default protocols (version 1, no clinic) from data/protocols.json."""

import json
from pathlib import Path

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "protocols.json"


def seed(apps, schema_editor):
    Protocol = apps.get_model("courses", "Protocol")
    for row in json.loads(DATA.read_text(encoding="utf-8"))["protocols"]:
        Protocol.objects.get_or_create(key=row["key"], version=1, defaults=row)


def unseed(apps, schema_editor):
    Protocol = apps.get_model("courses", "Protocol")
    Protocol.objects.filter(clinic__isnull=True, version=1, courses__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("courses", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
