"""The one place that answers "may this user do / see this?" for every app (issue 22 point 10).

- `require_perm` (views) and `require_role_perm` (services): 403 unless the role grants the
  capability (accounts/roles.py). They replace the `_require` copies each app's services had.
- `require_at_location`: 403 unless the actor works at the location (a write's gate).
- `denied`: the `denied` audit event and the 404 a record the user may not see answers, so an
  id cannot be probed (STYLE habit 3); every `*_get_for_user` selector raises it.
- `location_get_for_user`: the one location gate (a location the staff member works at, by code
  or id, otherwise `denied`), replacing the scheduling, infusions and controlled copies.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import STAFF_ROLES, Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record


def require_perm(request: HttpRequest, perm: Perm) -> None:
    """403 unless the signed-in user's role grants `perm`."""
    if not request.user.has_role_perm(perm):
        raise PermissionDenied


# A message naming the capability (`{perm}` is filled in).
PERM_NAMED = "Your role may not do this ({perm})."


def require_role_perm(actor: User, perm: Perm, message: str = "") -> None:
    """403 (PermissionDenied, with `message` when given; `{perm}` in it names the capability)
    unless `actor`'s role grants `perm`."""
    if not actor.has_role_perm(perm):
        raise PermissionDenied(message.format(perm=perm)) if message else PermissionDenied


def require_at_location(actor: User, location: Location | int, message: str = "") -> None:
    """403 unless `actor` works at `location` (a Location or its id)."""
    location_id = location if isinstance(location, int) else location.pk
    if not actor.locations.filter(pk=location_id).exists():
        raise PermissionDenied(message) if message else PermissionDenied


def denied(
    user: object, object_type: str, requested: object, message: str = "Not found."
) -> Http404:
    """Record a `denied` event for `requested` (an id or code, as the user sent it) and return
    the Http404 to raise: a record the user may not see answers exactly like one that does not
    exist."""
    authenticated = getattr(user, "is_authenticated", False)
    audit_record(
        actor=user if authenticated else None,  # type: ignore[arg-type]
        action=AuditAction.DENIED,
        detail={"object_type": object_type, "requested_id": str(requested)[:64]},
    )
    return Http404(message)


def location_get_for_user(
    *,
    user: User,
    location: str | int | None,
    perm: Perm | None = None,
    default_first: bool = False,
) -> Location:
    """A location this staff member works at, by code (or numeric id); with `default_first` and
    no location asked for, the first of theirs by name. `perm`, when given, must be granted by
    the role too. Anything else: `denied` (404)."""
    allowed = user.is_authenticated and user.is_active and user.role in STAFF_ROLES
    if allowed and perm is not None:
        allowed = user.has_role_perm(perm)
    qs = user.locations.all().order_by("name") if allowed else Location.objects.none()
    text = "" if location is None else str(location)
    if not text:
        found = qs.first() if default_first else None
    else:
        found = qs.filter(code=text).first()
        if found is None and text.isascii() and text.isdigit():
            found = qs.filter(pk=int(text)).first()
    if found is None:
        raise denied(user, "accounts.Location", text or "-", "No such location.")
    return found
