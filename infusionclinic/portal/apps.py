from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "infusionclinic.portal"
    label = "portal"
    verbose_name = "Patient portal"
