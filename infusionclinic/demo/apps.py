from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "infusionclinic.demo"
    label = "demo"
