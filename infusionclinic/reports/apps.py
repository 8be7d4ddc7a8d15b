from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "infusionclinic.reports"
    label = "reports"
