"""Role checks shared by the apps' views (capabilities: accounts/roles.py)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from infusionclinic.accounts.roles import Perm


def require_perm(request: HttpRequest, perm: Perm) -> None:
    """403 unless the signed-in user's role grants `perm`."""
    if not request.user.has_role_perm(perm):
        raise PermissionDenied
