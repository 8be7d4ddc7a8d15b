"""Consent documents, read-only: a consent text is never edited; a new version is published with
`manage.py consent_publish` (validated and audited). Patient records are not in the Django admin:
it does not scope by location."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ConsentDocument


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConsentDocument)
class ConsentDocumentAdmin(ReadOnlyAdmin):
    list_display = ("code", "version", "title", "required", "published_at")
    list_filter = ("code",)
