import secrets
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from .forms import QueuedPasswordResetForm
from .models import ApiToken, Clinic, Location, User
from .roles import STAFF_ROLES, Role
from .services import AccessState, user_access_changed


def _clinic_admin_only(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and user.role == Role.ADMIN)


# Django's admin is for clinic admins only (issue 2), and staff two-factor applies to it too
# (StaffTwoFactorMiddleware). Patient data is not registered here: its writes go through the
# services, which write the audit log.
admin.site.has_permission = _clinic_admin_only  # type: ignore[method-assign]
admin.site.site_header = "Infusion Clinic administration"


def admin_locations(user: User) -> QuerySet[Location]:
    """The locations an admin manages: all of them for a superuser (the installation's owner,
    made by `createsuperuser`), otherwise the admin's own (issue 22, point 2)."""
    if user.is_superuser:
        return Location.objects.all()
    return Location.objects.filter(staff=user)


def admin_users(user: User) -> QuerySet[User]:
    """The users an admin may manage: staff of the admin's locations and patients whose chart is
    at one of them; never a superuser (unless the admin is one). Anyone else answers 404."""
    if user.is_superuser:
        return User.objects.all()
    mine = admin_locations(user)
    return (
        User.objects.filter(Q(locations__in=mine) | Q(patient__home_location__in=mine))
        .exclude(is_superuser=True)
        .distinct()
    )


def _out_of_scope_location_ids(*, admin_user: User, target: User) -> set[int]:
    held = set(admin_locations(admin_user).values_list("pk", flat=True))
    return set(target.locations.values_list("pk", flat=True)) - held


class ClinicAdminPermissions:
    """The role decides (accounts/roles.py), not Django's per-model permission rows. Nothing is
    deleted here: users are deactivated, locations kept for the records that name them. An object
    outside the admin's scope answers 404, not the admin's "does not exist" redirect."""

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

    def _get_obj_does_not_exist_redirect(
        self, request: HttpRequest, opts: Any, object_id: str
    ) -> HttpResponse:
        raise Http404("Not found.")


@admin.register(Clinic)
class ClinicAdmin(ClinicAdminPermissions, admin.ModelAdmin):
    list_display = ["name"]

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return _clinic_admin_only(request) and request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return _clinic_admin_only(request) and request.user.is_superuser


@admin.register(Location)
class LocationAdmin(ClinicAdminPermissions, admin.ModelAdmin):
    list_display = ["code", "name", "clinic", "timezone"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Location]:
        return admin_locations(request.user)

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        # A new location is held by nobody; only the installation's owner opens one (or
        # `manage.py create_location`).
        return _clinic_admin_only(request) and request.user.is_superuser


class StaffAdminUserCreationForm(forms.ModelForm):
    """A new user as a location admin makes one: staff of the admin's locations, without a
    password the admin knows (issue 22, point 2). The person sets it through the reset mail
    sent on creation."""

    class Meta:
        model = User
        fields = ["email", "full_name", "role", "locations"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r.value, r.label) for r in Role if r in STAFF_ROLES]
        self.fields["locations"].required = True

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(f"A user with email {email} already exists.")
        return email

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        # Random and never shown: the account is usable only after the reset mail's link.
        user.set_password(secrets.token_urlsafe(32))
        if commit:
            user.save()
            self.save_m2m()
        return user


@admin.register(User)
class UserAdmin(ClinicAdminPermissions, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "role", "is_active"]
    # Only the locations of the users listed (not every location's name).
    list_filter = ["role", "is_active", ("locations", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["email", "full_name"]
    filter_horizontal = ["locations"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("full_name", "role", "locations")}),
        ("Status", {"fields": ("is_active", "last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "role", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined"]
    # Location admins: no password field (its "Reset password" link sets any user's password,
    # issue 22 point 2); passwords change through the reset mail (the action below).
    staff_fieldsets = (
        (None, {"fields": ("email",)}),
        ("Person", {"fields": ("full_name", "role", "locations")}),
        ("Status", {"fields": ("is_active", "last_login", "date_joined")}),
    )
    staff_add_fieldsets = ((None, {"fields": ("email", "full_name", "role", "locations")}),)
    actions = ["send_password_reset"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return admin_users(request.user).prefetch_related("locations")

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        return self.staff_add_fieldsets if obj is None else self.staff_fieldsets

    def get_form(self, request: HttpRequest, obj: User | None = None, **kwargs: Any) -> Any:
        if obj is None and not request.user.is_superuser:
            kwargs["form"] = StaffAdminUserCreationForm
            return admin.ModelAdmin.get_form(self, request, obj, **kwargs)
        form = super().get_form(request, obj, **kwargs)
        if not request.user.is_superuser and "role" in form.base_fields:
            # Staff stay staff: a patient's log-in is made from the chart (portal invitation).
            form.base_fields["role"].choices = [
                (r.value, r.label) for r in Role if r in STAFF_ROLES
            ]
        return form

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return readonly
        if obj.pk == request.user.pk:
            # Never one's own grants: another admin (or the superuser) changes them.
            readonly += ["role", "locations", "is_active"]
        elif obj.role == Role.PATIENT and not request.user.is_superuser:
            # A patient's log-in belongs to the chart: no role or locations to grant it.
            readonly += ["role", "locations"]
        elif not request.user.is_superuser and _out_of_scope_location_ids(
            admin_user=request.user, target=obj
        ):
            # Also staff of a location this admin does not manage: role and activation act there
            # too. Locations stay editable within the admin's own (the others are kept).
            readonly += ["role", "is_active"]
        return readonly

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "locations":
            kwargs["queryset"] = admin_locations(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        if not request.user.is_superuser:
            raise Http404("Not found.")
        return super().user_change_password(request, id, form_url)

    @admin.action(description="Send a password-reset mail")
    def send_password_reset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            _password_reset_mail(request, user)
        self.message_user(request, f"Password-reset mail queued for {len(queryset)} user(s).")

    # Role, activation and location changes are audited (issue 11: grants and revocations).
    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        stored = User.objects.filter(pk=obj.pk).first() if change else None
        request._access_before = (  # type: ignore[attr-defined]
            AccessState.of(stored) if stored is not None else AccessState("", False, frozenset())
        )
        request._kept_locations = (  # type: ignore[attr-defined]
            _out_of_scope_location_ids(admin_user=request.user, target=stored)
            if stored is not None
            else set()
        )
        obj.is_staff = obj.role == Role.ADMIN  # Django's admin is for clinic admins only
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        kept = request._kept_locations  # type: ignore[attr-defined]
        if kept:  # the form offered only the admin's locations: the user keeps the others
            form.instance.locations.add(*kept)
        user_access_changed(
            actor=request.user,
            user=form.instance,
            before=request._access_before,  # type: ignore[attr-defined]
        )
        if not change and not request.user.is_superuser:
            _password_reset_mail(request, form.instance)


def _password_reset_mail(request: HttpRequest, user: User) -> None:
    """The reset flow's own mail (queued), as if the person had asked for it themselves."""
    form = QueuedPasswordResetForm(data={"email": user.email})
    if form.is_valid():
        form.save(
            request=request,
            use_https=request.is_secure(),
            email_template_name="accounts/password_reset_email.txt",
            subject_template_name="accounts/password_reset_subject.txt",
        )


@admin.register(ApiToken)
class ApiTokenAdmin(ClinicAdminPermissions, admin.ModelAdmin):
    list_display = ["prefix", "user", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "user", "created_at", "last_used_at"]
    fields = ["prefix", "user", "created_at", "last_used_at", "revoked_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        return ApiToken.objects.filter(user__in=admin_users(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens come from `manage.py create_api_token`, shown once
