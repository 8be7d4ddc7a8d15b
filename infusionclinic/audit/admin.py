from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from infusionclinic.accounts.roles import Perm

from .models import AuditEvent
from .selectors import AuditFilter, audit_events_for_user


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ["seq", "occurred_at", "actor_email", "action", "object_type", "object_id"]
    list_filter = ["action", "channel"]
    search_fields = ["actor_email", "object_id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        # The same scope as the audit report: events of the admin's locations' patients.
        return audit_events_for_user(user=request.user, filters=AuditFilter())

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_role_perm(Perm.AUDIT_REPORT)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_role_perm(Perm.AUDIT_REPORT)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
