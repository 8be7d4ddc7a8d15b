"""SMART App Launch (v2) over django-oauth-toolkit: the scopes, the token's launch context, the
`.well-known/smart-configuration` document, and reading a SMART access token on /fhir/.

Apps are registered by a superuser in the Django admin (OAuth2 Provider → Applications:
authorization grant "Authorization code", client type public for apps without a secret). The
authorization code flow requires PKCE with S256 (settings `OAUTH2_PROVIDER`).

Scopes (the server is read-only, so only `r` and `s`, and v1's `read`):
- `patient/<Type|*>.rs`: a patient's app; honoured only for a patient's own portal log-in, and
  reads that patient's record only (the token's user sees no one else);
- `user/<Type|*>.rs`: what the logged-in user may see by their role's rules (staff: their
  locations; the bulk `$export` needs `user/*.rs` or `user/*.read`);
- `launch/patient` (the token response names the patient), `openid fhirUser` (an id_token whose
  `fhirUser` is `Patient/<id>`; needs `OIDC_RSA_PRIVATE_KEY`), `offline_access` (a refresh token;
  without it none is issued).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2.rfc6749 import errors as oauth2_errors

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record

from .resources import resource_types

READ_PERMS = ("rs", "r", "s", "read")
LAUNCH_SCOPES = {
    "launch/patient": "Know which patient's record the app was opened for",
    "openid": "Know who you are (OpenID Connect)",
    "fhirUser": "Know your FHIR identity (Patient/<id>)",
    "offline_access": "Keep access after you close the app (a refresh token)",
}
_SCOPE_RE = re.compile(r"^(patient|user)/([A-Za-z]+|\*)\.(rs|r|s|read)$")


def _describe(context: str, resource_type: str, perms: str) -> str:
    what = "all your health records" if resource_type == "*" else f"your {resource_type} records"
    verb = {"rs": "Read and search", "r": "Read", "s": "Search", "read": "Read and search"}[perms]
    if context == "user":
        what = what.replace("your ", "the ") + " you may see"
    return f"{verb} {what}"


class SmartScopes(BaseScopes):
    """Every SMART v2 read scope over the resource types the FHIR interface serves."""

    def get_all_scopes(self) -> dict[str, str]:
        scopes = dict(LAUNCH_SCOPES)
        for context in ("patient", "user"):
            for resource_type in ("*", *resource_types()):
                for perms in READ_PERMS:
                    scopes[f"{context}/{resource_type}.{perms}"] = _describe(
                        context, resource_type, perms
                    )
        return scopes

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return list(self.get_all_scopes())

    def get_default_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return ["launch/patient", "patient/*.rs"]


@dataclass(frozen=True)
class Grant:
    """What a SMART token lets its holder read: per resource type, read and/or search."""

    read: frozenset[str]
    search: frozenset[str]

    def allows(self, resource_type: str, *, interaction: str) -> bool:
        granted = self.read if interaction == "read" else self.search
        return "*" in granted or resource_type in granted


def token_grant(*, user: User, scopes: list[str]) -> Grant:
    """The read and search rights of a token's scopes for this user: `patient/` scopes count
    only for a patient's own log-in (a staff user has no single patient context here)."""
    read: set[str] = set()
    search: set[str] = set()
    for scope in scopes:
        match = _SCOPE_RE.match(scope)
        if match is None:
            continue
        context, resource_type, perms = match.groups()
        if context == "patient" and user.role != Role.PATIENT:
            continue
        if perms in ("rs", "read", "r"):
            read.add(resource_type)
        if perms in ("rs", "read", "s"):
            search.add(resource_type)
    return Grant(read=frozenset(read), search=frozenset(search))


def _own_patient_id(user: User) -> int | None:
    from infusionclinic.patients.models import Patient

    if user.role != Role.PATIENT:
        return None
    return Patient.objects.filter(user=user).values_list("pk", flat=True).first()


class SmartOAuth2Validator(OAuth2Validator):
    """Adds the SMART launch context to the token response, issues a refresh token only for
    `offline_access`, puts `fhirUser` in the id_token, and audits each token issued."""

    oidc_claim_scope = None  # every claim below is released with `openid`

    def validate_response_type(
        self,
        client_id: str,
        response_type: str,
        client: Any,
        request: Any,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        """SMART v2: PKCE with S256, refused at the authorization request (before the consent
        page), not only when the code is issued."""
        if request.code_challenge_method != "S256" or not request.code_challenge:
            raise oauth2_errors.InvalidRequestError(
                description="PKCE is required: code_challenge with code_challenge_method S256.",
                request=request,
            )
        return super().validate_response_type(client_id, response_type, client, request)

    def save_bearer_token(self, token: dict[str, Any], request: Any, *args: Any, **kwargs: Any):  # noqa: ANN201
        scopes = token.get("scope", "").split()
        if "offline_access" not in scopes:
            token.pop("refresh_token", None)
        result = super().save_bearer_token(token, request, *args, **kwargs)
        user = request.user
        patient_id = _own_patient_id(user) if user is not None else None
        if patient_id is not None and (
            "launch/patient" in scopes or any(s.startswith("patient/") for s in scopes)
        ):
            token["patient"] = str(patient_id)
        if user is not None:
            audit_record(
                actor=user,
                action=AuditAction.GRANT,
                detail={
                    "oauth": "token issued",
                    "client_id": request.client.client_id,
                    "application": request.client.name,
                    "scope": token.get("scope", ""),
                    "grant_type": request.grant_type,
                },
            )
        return result

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        patient_id = _own_patient_id(request.user)
        if patient_id is None:
            return {}
        return {"fhirUser": f"{settings.SITE_URL}{reverse('fhir:base')}Patient/{patient_id}"}


def smart_request_authenticate(*, request: HttpRequest) -> User | None:
    """The user of a valid SMART access token (django-oauth-toolkit) on this request, with the
    token's grant checked against the FHIR route asked for (PermissionDenied if it does not
    cover it); None if the bearer is no such token."""
    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[])
    if not valid or oauth_request.access_token is None:
        return None
    user = oauth_request.access_token.user
    if user is None or not user.is_active:
        return None
    grant = token_grant(user=user, scopes=oauth_request.access_token.scope.split())
    if not route_allowed(grant, path=request.path, query=bool(request.GET)):
        raise PermissionDenied("The access token's scopes do not cover this request.")
    request.smart_grant = grant  # type: ignore[attr-defined]
    return user


BULK_SEGMENTS = ("$export", "Group", "bulk")


def route_allowed(grant: Grant, *, path: str, query: bool) -> bool:
    """Does the grant cover this /fhir/ path? `Type/id` is a read, `Type?…` a search,
    `Patient/id/$everything` and the bulk export read every type."""
    base = reverse("fhir:base")
    parts = [p for p in path.removeprefix(base).split("/") if p]
    if not parts:
        return False
    every_type = all(grant.allows(t, interaction="read") for t in resource_types())
    if parts[0] in BULK_SEGMENTS or parts[-1] == "$export":
        return "*" in grant.read and "*" in grant.search
    if parts[-1] == "$everything":
        return every_type
    if len(parts) == 1:
        return grant.allows(parts[0], interaction="search")
    return grant.allows(parts[0], interaction="read")


@require_GET
def smart_configuration(request: HttpRequest) -> HttpResponse:
    """`/.well-known/smart-configuration` (SMART App Launch v2 §2.3), also under the FHIR base."""
    absolute = request.build_absolute_uri
    scopes = sorted(SmartScopes().get_all_scopes())
    body: dict[str, Any] = {
        "authorization_endpoint": absolute(reverse("oauth2_provider:authorize")),
        "token_endpoint": absolute(reverse("oauth2_provider:token")),
        "revocation_endpoint": absolute(reverse("oauth2_provider:revoke-token")),
        "introspection_endpoint": absolute(reverse("oauth2_provider:introspect")),
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes,
        "capabilities": [
            "launch-standalone",
            "client-public",
            "client-confidential-symmetric",
            "context-standalone-patient",
            "permission-patient",
            "permission-user",
            "permission-offline",
            "permission-v1",
            "permission-v2",
        ],
    }
    if oauth2_settings.OIDC_ENABLED:
        body["issuer"] = oauth2_settings.oidc_issuer(request)
        body["jwks_uri"] = absolute(reverse("oauth2_provider:jwks-info"))
        body["capabilities"].append("sso-openid-connect")
    else:
        body["scopes_supported"] = [s for s in scopes if s not in ("openid", "fhirUser")]
    return HttpResponse(json.dumps(body), content_type="application/json")


class SmartAuthorizationView(AuthorizationView):
    """django-oauth-toolkit's consent page, whose CSP also lets its form's answer redirect to
    the app: browsers apply `form-action` to the redirect after a form is sent, and the site's
    policy allows only 'self'. The redirect URI was checked against the app's registered ones
    before the form is shown."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        redirect_uri = urlsplit(request.GET.get("redirect_uri", ""))
        if response.status_code == 200 and redirect_uri.scheme and redirect_uri.netloc:
            response._csp_update = {  # type: ignore[attr-defined]
                "form-action": [f"{redirect_uri.scheme}://{redirect_uri.netloc}"]
            }
        return response
