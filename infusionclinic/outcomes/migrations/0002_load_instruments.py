from django.db import migrations


def load(apps, schema_editor):
    from infusionclinic.outcomes.instruments import instruments_sync

    instruments_sync(apps.get_model("outcomes", "InstrumentDefinition"))


class Migration(migrations.Migration):
    """Stores the shipped instrument definitions (data/instruments/*.json). Files added later are
    stored by `manage.py load_instruments`."""

    dependencies = [("outcomes", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
