"""Issue 22 point 6: every token has an expiry (0003 filled it for the existing ones; a separate
migration so PostgreSQL does not alter a table with row updates pending in the same
transaction)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_apitoken_expiry_and_revocation"),
    ]

    operations = [
        migrations.AlterField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(),
        ),
    ]
