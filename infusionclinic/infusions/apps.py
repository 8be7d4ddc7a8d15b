from django.apps import AppConfig


class InfusionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "infusionclinic.infusions"
    verbose_name = "Infusion sessions"
