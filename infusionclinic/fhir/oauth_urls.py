"""The OAuth2 endpoints SMART apps use (django-oauth-toolkit), mounted at /o/: authorize, token,
revoke, introspect, and the OpenID Connect ones when `OIDC_RSA_PRIVATE_KEY` is set. Not its
application-management pages or dynamic registration: clients are registered by a superuser in
the Django admin."""

from django.urls import path
from oauth2_provider import views
from oauth2_provider.urls import oidc_urlpatterns

from .smart import SmartAuthorizationView

app_name = "oauth2_provider"

urlpatterns = [
    path("authorize/", SmartAuthorizationView.as_view(), name="authorize"),
    path("token/", views.TokenView.as_view(), name="token"),
    path("revoke_token/", views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", views.IntrospectTokenView.as_view(), name="introspect"),
    *oidc_urlpatterns,
]
