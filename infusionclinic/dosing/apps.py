from django.apps import AppConfig


class DosingConfig(AppConfig):
    name = "infusionclinic.dosing"
    label = "dosing"
    verbose_name = "Dosing orders"
