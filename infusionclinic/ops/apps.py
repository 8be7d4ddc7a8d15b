from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "infusionclinic.ops"
    label = "ops"
    verbose_name = "Operations: backups and idempotency keys"
