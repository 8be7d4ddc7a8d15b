from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "infusionclinic.analytics"
    label = "analytics"
    verbose_name = "Clinic analytics"
