"""Issue 22 point 6: API tokens get a name, an expiry, a revocation reason and the credentials
they are bound to. Tokens made before this migration expire API_TOKEN_DAYS after they were made
(already-old ones at once) and are bound to their user's current password and session token."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.utils.crypto import salted_hmac


def _bind_existing(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    days = int(getattr(settings, "API_TOKEN_DAYS", 90))
    for token in ApiToken.objects.select_related("user"):
        user = token.user
        # The same two HMACs as User.get_session_auth_hash and api_token_credential_hash (the
        # historical model has neither method).
        session_hash = salted_hmac(
            "infusionclinic.accounts.User.get_session_auth_hash",
            f"{user.password}:{user.session_token}",
            algorithm="sha256",
        ).hexdigest()
        token.credential_hash = salted_hmac(
            "infusionclinic.accounts.ApiToken.credential_hash", session_hash, algorithm="sha256"
        ).hexdigest()
        token.expires_at = token.created_at + timedelta(days=days)
        token.save(update_fields=["credential_hash", "expires_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_user_session_token"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="name",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="revoked_reason",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="credential_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(_bind_existing, migrations.RunPython.noop),
    ]
