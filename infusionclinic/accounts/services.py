from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django_otp import match_token

from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record

# API tokens live in api_tokens.py (issue 22 point 6); re-exported for existing callers.
from .api_tokens import (  # noqa: F401
    REVOKED_LOGOUT_EVERYWHERE,
    api_token_authenticate,
    api_token_create,
    api_tokens_revoke_all,
)
from .models import Location, User, new_session_token
from .roles import STAFF_ROLES, Role


@transaction.atomic
def user_create(
    *,
    actor: User | None = None,
    email: str,
    role: str,
    password: str | None,
    full_name: str = "",
    location_codes: Sequence[str] = (),
    patient_mrn: str | None = None,
    check_password_strength: bool = True,
) -> User:
    """Create a log-in. Staff are attached to locations; a patient user is linked to the chart with
    that MRN (and sees only that chart). Without a password the account cannot log in until the
    person sets one through password reset."""
    from infusionclinic.patients.models import Patient  # patients depends on accounts

    errors: dict[str, list[str]] = {}
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = ["Enter a valid email address."]
    if User.objects.filter(email=email).exists():
        errors["email"] = [f"A user with email {email} already exists."]
    if role not in Role.values:
        errors["role"] = ["Choose one of: " + ", ".join(Role.values) + "."]
    locations = list(Location.objects.filter(code__in=location_codes))
    missing = sorted(set(location_codes) - {loc.code for loc in locations})
    if missing:
        errors["locations"] = [f"Unknown location code(s): {', '.join(missing)}."]
    if role in STAFF_ROLES and not location_codes:
        errors["locations"] = ["Staff must belong to at least one location."]
    patient = None
    if role == Role.PATIENT:
        if not patient_mrn:
            errors["patient"] = ["A patient user must be linked to a chart (--patient MRN)."]
        else:
            patient = Patient.objects.filter(mrn=patient_mrn).first()
            if patient is None:
                errors["patient"] = [f"No patient with MRN {patient_mrn}."]
            elif patient.user_id is not None:
                errors["patient"] = [f"Patient {patient_mrn} already has a log-in."]
    elif patient_mrn:
        errors["patient"] = ["Only a patient user is linked to a chart."]
    if password and check_password_strength and "email" not in errors:
        try:
            validate_password(password, User(email=email, full_name=full_name))
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)

    user = User.objects.create_user(
        email=email,
        password=password,
        full_name=full_name,
        role=role,
        is_staff=role == Role.ADMIN,
    )
    if locations:
        user.locations.set(locations)
    if patient is not None:
        patient.user = user
        patient.save(update_fields=["user", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.GRANT,
        patient=patient,
        obj=user,
        detail={"role": role, "locations": sorted(loc.code for loc in locations)},
    )
    return user


@dataclass(frozen=True)
class AccessState:
    role: str
    is_active: bool
    location_codes: frozenset[str]

    @classmethod
    def of(cls, user: User) -> AccessState:
        return cls(
            role=user.role,
            is_active=user.is_active,
            location_codes=frozenset(user.locations.values_list("code", flat=True)),
        )


def user_access_changed(*, actor: User | None, user: User, before: AccessState) -> None:
    """Audit a change of role, activation or locations (made in the Django admin): one `grant`
    event for what was added, one `revoke` event for what was taken away."""
    after = AccessState.of(user)
    granted: dict[str, object] = {}
    revoked: dict[str, object] = {}
    if after.role != before.role:
        granted["role"] = after.role
        revoked["role"] = before.role
    if after.is_active != before.is_active:
        (granted if after.is_active else revoked)["active"] = True
    if added := sorted(after.location_codes - before.location_codes):
        granted["locations"] = added
    if removed := sorted(before.location_codes - after.location_codes):
        revoked["locations"] = removed
    if granted:
        audit_record(actor=actor, action=AuditAction.GRANT, obj=user, detail=granted)
    if revoked:
        audit_record(actor=actor, action=AuditAction.REVOKE, obj=user, detail=revoked)


@transaction.atomic
def location_create(*, code: str, name: str, timezone_name: str, clinic_name: str) -> Location:
    """A clinic site. Its time zone (IANA name) is how its patients' and staff's times are shown."""
    from .models import Clinic, validate_timezone

    errors: dict[str, list[str]] = {}
    try:
        validate_timezone(timezone_name)
    except ValidationError as exc:
        errors["timezone"] = list(exc.messages)
    if Location.objects.filter(code=code).exists():
        errors["code"] = [f"Location {code} already exists."]
    location = Location(code=code, name=name, timezone=timezone_name)
    try:
        location.clean_fields(exclude=["clinic", "timezone"])
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    location.clinic, _ = Clinic.objects.get_or_create(name=clinic_name)
    location.save()
    return location


@transaction.atomic
def user_sessions_end_all(*, actor: User, user: User) -> None:
    """Log the user out on every device: each session's auth hash includes session_token. Their
    API tokens are revoked too (issue 22 point 6): a lost laptop's token ends with its session."""
    user.session_token = new_session_token()
    user.save(update_fields=["session_token"])
    audit_record(actor=actor, action=AuditAction.LOGOUT, obj=user, detail={"scope": "everywhere"})
    api_tokens_revoke_all(actor=actor, user=user, reason=REVOKED_LOGOUT_EVERYWHERE)


def user_reauthenticate(*, user: User, secret: str, purpose: str) -> bool:
    """Confirm, inside an action, that the logged-in person is at the keyboard: their password or
    a current TOTP code (for signing orders, witnessing controlled-substance waste). A failure is
    audited with its purpose."""
    secret = secret.strip()
    ok = (
        bool(secret)
        and user.is_active
        and (
            (secret.isdigit() and len(secret) in (6, 8) and match_token(user, secret) is not None)
            or user.check_password(secret)
        )
    )
    if not ok:
        audit_record(
            actor=user,
            action=AuditAction.LOGIN_FAILED,
            detail={"reauthentication": purpose},
        )
    return ok
