import hashlib
import secrets
import zoneinfo
from datetime import timedelta

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


def api_token_credential_hash(user: "User") -> str:
    """What a token is bound to: the user's password and session token (as their browser
    sessions are, User.get_session_auth_hash). A password change by any path (reset, the admin,
    `changepassword`) or "log out everywhere" changes it, and the token stops working."""
    return salted_hmac(
        "infusionclinic.accounts.ApiToken.credential_hash",
        user.get_session_auth_hash(),
        algorithm="sha256",
    ).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> "ApiTokenQuerySet":
        return self.filter(
            revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True
        )


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 digest is stored: a leaked database does
    not leak usable tokens. It expires (API_TOKEN_DAYS) and is revoked by a password reset, by
    "log out everywhere" and by its owner (issue 22 point 6)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=100, blank=True, default="")
    credential_hash = models.CharField(max_length=64, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, *, user: "User", days: int, name: str = "") -> tuple["ApiToken", str]:
        """The row and the raw token (returned once, never stored). Unaudited: callers go
        through accounts.api_tokens.api_token_create, which audits."""
        raw = cls.new_raw_token()
        token = cls.objects.create(
            user=user,
            digest=cls.digest_of(raw),
            prefix=raw[:8],
            name=name,
            expires_at=timezone.now() + timedelta(days=days),
            credential_hash=api_token_credential_hash(user),
        )
        return token, raw

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= timezone.now() else "active"

    @staticmethod
    def new_raw_token() -> str:
        return "ic_" + secrets.token_urlsafe(32)

    @staticmethod
    def digest_of(raw: str) -> str:
        return _token_digest(raw)
