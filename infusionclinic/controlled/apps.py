from django.apps import AppConfig


class ControlledConfig(AppConfig):
    name = "infusionclinic.controlled"
    label = "controlled"
    verbose_name = "Controlled substances"
