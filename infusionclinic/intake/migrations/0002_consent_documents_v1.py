"""Publish version 1 of each consent document from data/consent_documents.json (PROT-C1)."""

import json
from pathlib import Path

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "consent_documents.json"


def publish(apps, schema_editor):
    ConsentDocument = apps.get_model("intake", "ConsentDocument")
    for doc in json.loads(DATA.read_text(encoding="utf-8"))["documents"]:
        ConsentDocument.objects.get_or_create(
            code=doc["code"],
            version=1,
            defaults={"title": doc["title"], "body": doc["body"], "required": True},
        )


class Migration(migrations.Migration):
    dependencies = [("intake", "0001_initial")]

    operations = [migrations.RunPython(publish, migrations.RunPython.noop)]
