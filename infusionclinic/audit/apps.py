from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.signals import request_finished
from django.db.backends.signals import connection_created


def _delete_allowed() -> int:
    return 1 if settings.AUDIT_SQLITE_ALLOW_DELETE else 0


def sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    """The SQL function the SQLite append-only trigger asks before a DELETE (migration 0006)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("ic_audit_delete_allowed", 0, _delete_allowed)


class AuditConfig(AppConfig):
    name = "infusionclinic.audit"
    label = "audit"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the deploy checks
        from .services import seal_pending_after_response

        request_finished.connect(seal_pending_after_response, dispatch_uid="audit_seal_deferred")
        connection_created.connect(sqlite_functions, dispatch_uid="audit_sqlite_functions")
