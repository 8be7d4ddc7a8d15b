from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0004_appointment_course")]

    operations = [
        migrations.AddField(
            model_name="appointment",
            name="confirmed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
