from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from .models import ApiToken, Clinic, Location, User
from .roles import Role


def _clinic_admin_only(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and user.role == Role.ADMIN)


# Django's admin is for clinic admins only (issue 2), and staff two-factor applies to it too
# (StaffTwoFactorMiddleware). Patient data is not registered here: its writes go through the
# services, which write the audit log.
admin.site.has_permission = _clinic_admin_only  # type: ignore[method-assign]
admin.site.site_header = "Infusion Clinic administration"


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name"]


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "clinic", "timezone"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "role", "is_active"]
    list_filter = ["role", "is_active", "locations"]
    search_fields = ["email", "full_name"]
    filter_horizontal = ["locations"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("full_name", "role", "locations")}),
        ("Status", {"fields": ("is_active", "is_staff", "last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "role", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "user", "created_at", "last_used_at"]
    fields = ["prefix", "user", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens come from `manage.py create_api_token`, shown once
