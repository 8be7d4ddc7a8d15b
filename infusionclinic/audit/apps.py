from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "infusionclinic.audit"
    label = "audit"
