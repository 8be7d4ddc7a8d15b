from django.http import HttpRequest
from ninja.security import HttpBearer

from infusionclinic.accounts.api_tokens import api_token_authenticate, api_token_for_raw
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


def fhir_bearer_authenticate(request: HttpRequest, raw: str) -> User | None:
    """The read-only FHIR interface (/fhir/) takes an API token or, alongside it, a SMART on FHIR
    OAuth access token (django-oauth-toolkit, `fhir/smart.py`), whose scopes must cover the route
    (PermissionDenied otherwise). /api/v1/ takes API tokens only: OAuth tokens are read scopes."""
    user = api_token_authenticate(raw=raw)
    if user is None:
        from infusionclinic.fhir.smart import smart_request_authenticate

        user = smart_request_authenticate(request=request)
    return user
