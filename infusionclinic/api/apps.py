from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "infusionclinic.api"
    label = "api"
