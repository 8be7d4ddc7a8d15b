from django.http import HttpRequest
from ninja.security import HttpBearer

from infusionclinic.accounts.models import User
from infusionclinic.accounts.services import api_token_authenticate


class BearerTokenAuth(HttpBearer):
    """`Authorization: Bearer <token>` with a token from `manage.py create_api_token EMAIL`."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = api_token_authenticate(raw=token)
        if user is not None:
            request.user = user
        return user


def fhir_bearer_authenticate(request: HttpRequest, raw: str) -> User | None:
    """The read-only FHIR interface (/fhir/) takes an API token or, alongside it, a SMART on FHIR
    OAuth access token (django-oauth-toolkit, `fhir/smart.py`), whose scopes must cover the route
    (PermissionDenied otherwise). /api/v1/ takes API tokens only: OAuth tokens are read scopes."""
    user = api_token_authenticate(raw=raw)
    if user is None:
        from infusionclinic.fhir.smart import smart_request_authenticate

        user = smart_request_authenticate(request=request)
    return user
