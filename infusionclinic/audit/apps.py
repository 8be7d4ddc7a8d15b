from django.apps import AppConfig
from django.core.signals import request_finished


class AuditConfig(AppConfig):
    name = "infusionclinic.audit"
    label = "audit"

    def ready(self) -> None:
        from .services import seal_pending_after_response

        request_finished.connect(seal_pending_after_response, dispatch_uid="audit_seal_deferred")
