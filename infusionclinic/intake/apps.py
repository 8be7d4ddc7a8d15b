from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "infusionclinic.intake"
    label = "intake"
    verbose_name = "Referral, intake, screening and consent"
