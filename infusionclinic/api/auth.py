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
