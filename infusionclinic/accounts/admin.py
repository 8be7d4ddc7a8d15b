from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from .models import ApiToken, Clinic, Location, User
from .roles import Role
from .services import AccessState, user_access_changed


def _clinic_admin_only(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and user.role == Role.ADMIN)


# Django's admin is for clinic admins only (issue 2), and staff two-factor applies to it too
# (StaffTwoFactorMiddleware). Patient data is not registered here: its writes go through the
# services, which write the audit log.
admin.site.has_permission = _clinic_admin_only  # type: ignore[method-assign]
admin.site.site_header = "Infusion Clinic administration"


class ClinicAdminPermissions:
    """The role decides (accounts/roles.py), not Django's per-model permission rows. Nothing is
    deleted here: users are deactivated, locations kept for the records that name them."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _clinic_admin_only(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return _clinic_admin_only(request)

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return _clinic_admin_only(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return _clinic_admin_only(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Clinic)
class ClinicAdmin(ClinicAdminPermissions, admin.ModelAdmin):
    list_display = ["name"]


@admin.register(Location)
class LocationAdmin(ClinicAdminPermissions, admin.ModelAdmin):
    list_display = ["code", "name", "clinic", "timezone"]


@admin.register(User)
class UserAdmin(ClinicAdminPermissions, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "role", "is_active"]
    list_filter = ["role", "is_active", "locations"]
    search_fields = ["email", "full_name"]
    filter_horizontal = ["locations"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("full_name", "role", "locations")}),
        ("Status", {"fields": ("is_active", "last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "role", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined"]

    # Role, activation and location changes are audited (issue 11: grants and revocations).
    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        stored = User.objects.filter(pk=obj.pk).first() if change else None
        request._access_before = (  # type: ignore[attr-defined]
            AccessState.of(stored) if stored is not None else AccessState("", False, frozenset())
        )
        obj.is_staff = obj.role == Role.ADMIN  # Django's admin is for clinic admins only
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        user_access_changed(
            actor=request.user,
            user=form.instance,
            before=request._access_before,  # type: ignore[attr-defined]
        )


@admin.register(ApiToken)
class ApiTokenAdmin(ClinicAdminPermissions, admin.ModelAdmin):
    list_display = ["prefix", "user", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "user", "created_at", "last_used_at"]
    fields = ["prefix", "user", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens come from `manage.py create_api_token`, shown once
