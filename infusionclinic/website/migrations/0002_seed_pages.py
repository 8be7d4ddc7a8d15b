"""Seed the public pages from data/pages/*.md (version 1 of each). Pages that exist already are
left alone: an admin's edits are never overwritten by a deploy."""

from django.db import migrations


def seed(apps, schema_editor):
    from infusionclinic.website.pages import seed_pages

    seed_pages(apps.get_model("website", "Page"), apps.get_model("website", "PageVersion"))


class Migration(migrations.Migration):
    dependencies = [("website", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
