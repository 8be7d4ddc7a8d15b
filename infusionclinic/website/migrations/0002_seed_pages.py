"""Seed the public pages from data/pages/*.md (version 1 of each). Pages that exist already are
left alone: an admin's edits are never overwritten by a deploy."""

from django.db import migrations
from django.utils import timezone


def seed(apps, schema_editor):
    from infusionclinic.website.pages import PUBLIC_PAGES, seed_text

    Page = apps.get_model("website", "Page")
    PageVersion = apps.get_model("website", "PageVersion")
    now = timezone.now()
    for spec in PUBLIC_PAGES:
        if Page.objects.filter(slug=spec.slug).exists():
            continue
        text = seed_text(spec.slug)
        page = Page.objects.create(
            slug=spec.slug,
            title=text.title,
            description=text.description,
            body_markdown=text.body_markdown,
            version=1,
            updated_at=now,
        )
        PageVersion.objects.create(
            page=page,
            version=1,
            title=text.title,
            description=text.description,
            body_markdown=text.body_markdown,
            edited_at=now,
        )


class Migration(migrations.Migration):
    dependencies = [("website", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
