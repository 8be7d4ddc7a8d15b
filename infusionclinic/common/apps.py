from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "infusionclinic.common"
    label = "common"
