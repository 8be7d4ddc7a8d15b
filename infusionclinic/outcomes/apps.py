from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "infusionclinic.outcomes"
    label = "outcomes"
    verbose_name = "Outcomes (rating scales)"
