from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("infusions", "0009_board_discharged_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="pumpevent",
            index=models.Index(fields=["action", "at"], name="pump_action_at"),
        ),
    ]
