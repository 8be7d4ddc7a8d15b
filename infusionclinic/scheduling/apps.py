from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "infusionclinic.scheduling"
    label = "scheduling"
