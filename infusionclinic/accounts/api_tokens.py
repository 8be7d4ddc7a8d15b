"""API bearer tokens (issue 22 point 6): made with an expiry (API_TOKEN_DAYS), bound to the
user's credentials, listed and revoked by their owner (page and API), revoked on a password reset
and on "log out everywhere". Creation is a `grant` audit event, each revocation a `revoke`."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import denied
from infusionclinic.common.ids import id_from_path

from .models import ApiToken, User, api_token_credential_hash

# Reasons stored on a revoked token and shown on the owner's list.
REVOKED_BY_OWNER = "revoked by its owner"
REVOKED_PASSWORD_RESET = "password reset"  # noqa: S105 - a reason, not a secret
REVOKED_LOGOUT_EVERYWHERE = "logged out everywhere"
REVOKED_CREDENTIALS_CHANGED = "password or sessions changed"
NAME_MAX = 100


def api_token_days() -> int:
    days = int(settings.API_TOKEN_DAYS)
    if days < 1:
        raise ImproperlyConfigured("API_TOKEN_DAYS must be at least 1.")
    return days


@transaction.atomic
def api_token_create(
    *, user: User, actor: User | None = None, name: str = "", days: int | None = None
) -> str:
    """A new bearer token for this user, expiring after `days` (default API_TOKEN_DAYS, at most
    that); the raw value is returned once and never stored. Audited as a `grant`."""
    limit = api_token_days()
    days = limit if days is None else days
    errors: dict[str, list[str]] = {}
    if not 1 <= days <= limit:
        errors["days"] = [f"A token lasts 1 to {limit} days (API_TOKEN_DAYS)."]
    name = (name or "").strip()
    if len(name) > NAME_MAX:
        errors["name"] = [f"At most {NAME_MAX} characters."]
    if errors:
        raise ValidationError(errors)
    token, raw = ApiToken.issue(user=user, days=days, name=name)
    audit_record(
        actor=actor,
        action=AuditAction.GRANT,
        obj=token,
        detail={
            "api_token": token.prefix,
            "user": user.pk,
            "name": name,
            "expires_at": token.expires_at.isoformat(),
        },
    )
    return raw


def api_token_for_raw(*, raw: str) -> ApiToken | None:
    """The live token for this raw value, or None: unknown, revoked, expired, its user inactive,
    or its user's password or sessions changed since it was made (then revoked here, audited)."""
    token = (
        ApiToken.objects.active()
        .select_related("user")
        .filter(digest=ApiToken.digest_of(raw))
        .first()
    )
    if token is None:
        return None
    if token.credential_hash != api_token_credential_hash(token.user):
        _revoke(actor=None, tokens=[token], reason=REVOKED_CREDENTIALS_CHANGED)
        return None
    now = timezone.now()
    # Touch at most once a minute: a monitor posting every few seconds must not write each time.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def api_token_authenticate(*, raw: str) -> User | None:
    token = api_token_for_raw(raw=raw)
    return token.user if token is not None else None


def api_tokens_for_user(*, user: User) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first (never another user's)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def api_token_get_for_user(*, user: User, token_id: int | str) -> ApiToken:
    """One of the user's own tokens; another user's (or no) token is a 404 with a `denied`
    event, like every record a user may not see."""
    pk = id_from_path(str(token_id))
    token = api_tokens_for_user(user=user).filter(pk=pk).first() if pk is not None else None
    if token is None:
        raise denied(user, "accounts.ApiToken", token_id, "No such token.")
    return token


def _revoke(*, actor: User | None, tokens: list[ApiToken], reason: str) -> int:
    now = timezone.now()
    for token in tokens:
        # Only a live row is revoked (a concurrent revocation keeps its own reason and time).
        changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_reason=reason
        )
        if changed:
            token.revoked_at, token.revoked_reason = now, reason
            audit_record(
                actor=actor,
                action=AuditAction.REVOKE,
                obj=token,
                detail={"api_token": token.prefix, "user": token.user_id, "reason": reason},
            )
    return sum(1 for t in tokens if t.revoked_at == now)


@transaction.atomic
def api_token_revoke(*, actor: User, token: ApiToken, reason: str = REVOKED_BY_OWNER) -> ApiToken:
    """Revoke one token (the caller found it through api_token_get_for_user). Revoking a token
    that is already revoked changes nothing."""
    _revoke(actor=actor, tokens=[token], reason=reason)
    return token


@transaction.atomic
def api_tokens_revoke_all(*, actor: User | None, user: User, reason: str) -> int:
    """Revoke every token of `user` not yet revoked (expired ones too: the list says why it
    ended); one `revoke` event per token. Returns how many."""
    tokens = list(ApiToken.objects.filter(user=user, revoked_at__isnull=True))
    return _revoke(actor=actor, tokens=tokens, reason=reason)
