import hashlib
import secrets
import zoneinfo

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

from infusionclinic.common.models import TimeStampedModel

from .roles import STAFF_ROLES, Perm, Role, role_has_perm


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. America/New_York).")


class Clinic(TimeStampedModel):
    name = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.name


class Location(TimeStampedModel):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="locations")
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    address = models.TextField(blank=True)
    phone = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


def new_session_token() -> str:
    return secrets.token_hex(16)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra.setdefault("role", Role.ADMIN)
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in. Email is the log-in name; `role` decides what they may do and
    `locations` which clinic sites' patients staff may see."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    locations = models.ManyToManyField(Location, blank=True, related_name="staff")
    is_active = models.BooleanField(default=True)
    # Django's admin checks is_staff; only clinic admins get it (set by user_create).
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Part of every session's auth hash: changing it ends all of the user's sessions ("log out
    # everywhere"), as a password change does.
    session_token = models.CharField(max_length=32, default=new_session_token, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def is_clinic_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def has_role_perm(self, perm: Perm) -> bool:
        return self.is_active and role_has_perm(self.role, perm)

    def get_session_auth_hash(self) -> str:
        return salted_hmac(
            "infusionclinic.accounts.User.get_session_auth_hash",
            f"{self.password}:{self.session_token}",
            algorithm="sha256",
        ).hexdigest()


def _token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> "ApiTokenQuerySet":
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 digest is stored: a leaked database does
    not leak usable tokens."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def new_raw_token() -> str:
        return "ic_" + secrets.token_urlsafe(32)

    @staticmethod
    def digest_of(raw: str) -> str:
        return _token_digest(raw)
