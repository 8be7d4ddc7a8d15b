"""The caller's own API tokens (issue 22 point 6): list them and revoke one. Another user's
token answers 404, like every record a user may not see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from infusionclinic.api.schemas import ErrorOut

from .api_tokens import api_token_get_for_user, api_token_revoke, api_tokens_for_user
from .models import ApiToken

router = Router(tags=["tokens"])
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class TokenOut(Schema):
    id: int
    prefix: str
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str
    status: str
    current: bool


def _out(request: HttpRequest, token: ApiToken) -> dict[str, Any]:
    current = getattr(request, "api_token", None)
    return {
        "id": token.pk,
        "prefix": token.prefix,
        "name": token.name,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
        "revoked_reason": token.revoked_reason,
        "status": token.status,
        "current": current is not None and current.pk == token.pk,
    }


@router.get("/tokens", response={200: list[TokenOut], **ERRORS})
def list_tokens(request: HttpRequest) -> Any:
    """Your tokens, newest first: active, expired or revoked (with why); `current` marks the one
    this request was made with."""
    return [_out(request, t) for t in api_tokens_for_user(user=request.user)]


@router.post("/tokens/{token_id}/revoke", response={200: TokenOut, **ERRORS})
def revoke_token(request: HttpRequest, token_id: str) -> Any:
    """Revoke one of your tokens (the one you are using too: it stops working at once)."""
    token = api_token_get_for_user(user=request.user, token_id=token_id)
    return _out(request, api_token_revoke(actor=request.user, token=token))
