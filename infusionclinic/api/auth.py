from django.http import HttpRequest
from ninja.security import HttpBearer

from infusionclinic.accounts.api_tokens import api_token_for_raw
from infusionclinic.accounts.models import User


class BearerTokenAuth(HttpBearer):
    """`Authorization: Bearer <token>` with a token from `manage.py create_api_token EMAIL`: live,
    not expired (API_TOKEN_DAYS), not revoked, and made since the user's last password change or
    "log out everywhere" (issue 22 point 6)."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = api_token_for_raw(raw=token)
        if found is None:
            return None
        request.user = found.user
        request.api_token = found  # type: ignore[attr-defined]  # GET /tokens marks it "current"
        return found.user
