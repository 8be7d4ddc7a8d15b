from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "infusionclinic.billing"
    label = "billing"
    verbose_name = "Self-pay billing"
