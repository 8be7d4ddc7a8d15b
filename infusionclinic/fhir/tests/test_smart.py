"""Issue 22 point 9: SMART App Launch v2 — `.well-known/smart-configuration`, the OAuth2
authorization code flow with PKCE (S256 only) through django-oauth-toolkit, SMART scopes, and
the FHIR interface reading with the access token under the role's rules."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from oauth2_provider.models import get_application_model

from infusionclinic.audit.models import AuditAction, AuditEvent
from tests.factories import PatientFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db

REDIRECT = "https://app.example/callback"
Application = get_application_model()


@pytest.fixture
def app():
    """A public SMART app, as a superuser registers it in the Django admin."""
    return Application.objects.create(
        name="Mood diary",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
        client_secret="",
    )


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def _authorize(client: Client, app, scope: str, challenge: str, method: str = "S256"):
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "af0ifjsldkj",
        "code_challenge": challenge,
        "code_challenge_method": method,
    }
    return client.get(f"/o/authorize/?{urlencode(params)}"), params


def _code(client: Client, app, scope: str, challenge: str) -> str:
    """The user sees the consent page, allows, and the browser is sent back with a code."""
    page, params = _authorize(client, app, scope, challenge)
    assert page.status_code == 200
    assert "Mood diary" in page.content.decode()
    # The browser may follow the form's answer to the app (CSP form-action).
    assert "https://app.example" in page["Content-Security-Policy"].split("form-action")[1]
    answer = client.post("/o/authorize/", {**params, "allow": "Authorize"})
    assert answer.status_code == 302
    location = urlsplit(answer["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["af0ifjsldkj"]
    return query["code"][0]


def _token(app, code: str, verifier: str | None):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": app.client_id,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return Client().post("/o/token/", data)


def _bearer(token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {token}"})


def test_smart_configuration_is_published_at_root_and_fhir_base():
    for url in ("/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"):
        response = Client().get(url)
        assert response.status_code == 200
        config = response.json()
        assert config["authorization_endpoint"] == "http://testserver/o/authorize/"
        assert config["token_endpoint"] == "http://testserver/o/token/"
        assert config["code_challenge_methods_supported"] == ["S256"]
        assert {"patient/*.rs", "user/*.rs", "launch/patient", "offline_access"} <= set(
            config["scopes_supported"]
        )
        assert "permission-v2" in config["capabilities"]


@pytest.mark.django_db
def test_capability_statement_names_smart_security_and_bulk_export():
    """Issue 22 point 9: a client discovers SMART and $export from /fhir/metadata too."""
    rest = Client().get("/fhir/metadata").json()["rest"][0]
    service = rest["security"]["service"][0]["coding"][0]
    assert service["code"] == "SMART-on-FHIR"
    uris = {e["url"]: e["valueUri"] for e in rest["security"]["extension"][0]["extension"]}
    assert uris["authorize"] == "http://testserver/o/authorize/"
    assert uris["token"] == "http://testserver/o/token/"
    assert [op["name"] for op in rest["operation"]] == ["export"]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert {op["name"] for op in patient["operation"]} == {"everything", "export"}


def test_patient_authorises_an_app_with_pkce_and_reads_only_their_own_record(location, app):
    """authorize → consent → code → token with code_verifier → the token reads the patient's
    own Patient; another patient answers 404."""
    me = PatientFactory(home_location=location)
    other = PatientFactory(home_location=location)
    user = make_user("patient", patient=me)
    verifier, challenge = _pkce()
    code = _code(
        logged_in_client(user), app, "launch/patient patient/*.rs offline_access", challenge
    )

    response = _token(app, code, verifier)
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["patient"] == str(me.pk)
    assert token["refresh_token"]  # offline_access
    assert AuditEvent.objects.filter(
        actor=user, action=AuditAction.GRANT, detail__oauth="token issued"
    ).exists()

    reader = _bearer(token["access_token"])
    own = reader.get(f"/fhir/Patient/{me.pk}")
    assert own.status_code == 200
    assert own.json()["id"] == str(me.pk)
    assert reader.get(f"/fhir/Patient/{other.pk}").status_code == 404
    assert AuditEvent.objects.filter(actor=user, action=AuditAction.VIEW, patient=me).exists()
    # A patient's token cannot start a bulk export of the clinic.
    bulk = reader.get(
        "/fhir/Patient/$export",
        headers={"Accept": "application/fhir+json", "Prefer": "respond-async"},
    )
    assert bulk.status_code == 403


def test_no_refresh_token_without_offline_access(location, app):
    user = make_user("patient", patient=PatientFactory(home_location=location))
    verifier, challenge = _pkce()
    code = _code(logged_in_client(user), app, "patient/Patient.rs", challenge)
    token = _token(app, code, verifier).json()
    assert "refresh_token" not in token


@pytest.mark.parametrize("verifier", [None, "wrong-" + "x" * 50])
def test_token_is_refused_without_the_right_code_verifier(location, app, verifier):
    user = make_user("patient", patient=PatientFactory(home_location=location))
    _, challenge = _pkce()
    code = _code(logged_in_client(user), app, "patient/*.rs", challenge)
    response = _token(app, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in response.json()


def test_authorize_refuses_plain_pkce_and_a_missing_challenge(location, app):
    client = logged_in_client(make_user("patient", patient=PatientFactory(home_location=location)))
    verifier, _ = _pkce()
    plain, _ = _authorize(client, app, "patient/*.rs", verifier, method="plain")
    missing, _ = _authorize(client, app, "patient/*.rs", "", method="")
    for response in (plain, missing):
        # Either the error page or a redirect carrying the error: never a code.
        assert "code=" not in response.get("Location", "")
        assert "authorizationForm" not in response.content.decode()


def test_a_token_with_a_scope_outside_the_request_answers_403(location, app):
    me = PatientFactory(home_location=location)
    user = make_user("patient", patient=me)
    verifier, challenge = _pkce()
    code = _code(logged_in_client(user), app, "patient/Condition.rs", challenge)
    reader = _bearer(_token(app, code, verifier).json()["access_token"])
    response = reader.get(f"/fhir/Patient/{me.pk}")
    assert response.status_code == 403
    assert response.json()["resourceType"] == "OperationOutcome"


def test_staff_user_scopes_follow_the_role_and_location_rules(location, other_location, app):
    ours = PatientFactory(home_location=location)
    theirs = PatientFactory(home_location=other_location)
    nurse = make_user("nurse", location)
    verifier, challenge = _pkce()
    code = _code(logged_in_client(nurse), app, "user/*.rs", challenge)
    token = _token(app, code, verifier).json()
    assert "patient" not in token
    reader = _bearer(token["access_token"])
    assert reader.get(f"/fhir/Patient/{ours.pk}").status_code == 200
    assert reader.get(f"/fhir/Patient/{theirs.pk}").status_code == 404
    # A bulk export with user/*.rs runs under the nurse's rules.
    kickoff = reader.get(
        "/fhir/Patient/$export?_type=Patient",
        headers={"Accept": "application/fhir+json", "Prefer": "respond-async"},
    )
    assert kickoff.status_code == 202
    assert reader.get(kickoff["Content-Location"]).status_code == 200


def test_staff_patient_scopes_grant_nothing(location, app):
    """patient/ scopes need a patient's own log-in: a staff user has no patient context here."""
    ours = PatientFactory(home_location=location)
    nurse = make_user("nurse", location)
    verifier, challenge = _pkce()
    code = _code(logged_in_client(nurse), app, "patient/*.rs", challenge)
    reader = _bearer(_token(app, code, verifier).json()["access_token"])
    assert reader.get(f"/fhir/Patient/{ours.pk}").status_code == 403


def test_a_revoked_or_made_up_token_is_refused(location, app):
    assert _bearer("not-a-token").get("/fhir/Patient/1").status_code == 401


@pytest.fixture
def oidc(settings):
    """OpenID Connect on (OIDC_RSA_PRIVATE_KEY set), with a key made for this test."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OIDC_ENABLED": True,
        "OIDC_RSA_PRIVATE_KEY": pem,
        "ALWAYS_RELOAD_OAUTHLIB_CORE": True,
    }
    return pem


def test_openid_fhiruser_puts_the_patient_in_the_id_token(location, app, oidc, settings):
    """`openid fhirUser`: the token response carries an id_token (RS256) whose fhirUser is the
    patient's Patient resource; smart-configuration then advertises OpenID Connect."""
    app.algorithm = Application.RS256_ALGORITHM
    app.save()
    me = PatientFactory(home_location=location)
    user = make_user("patient", patient=me)
    verifier, challenge = _pkce()
    code = _code(logged_in_client(user), app, "openid fhirUser patient/*.rs", challenge)
    token = _token(app, code, verifier).json()
    claims = _claims(token["id_token"])
    assert claims["fhirUser"] == f"{settings.SITE_URL}/fhir/Patient/{me.pk}"
    assert claims["aud"] == app.client_id
    config = Client().get("/.well-known/smart-configuration").json()
    assert "sso-openid-connect" in config["capabilities"]
    assert {"openid", "fhirUser"} <= set(config["scopes_supported"])


def _claims(id_token: str) -> dict:
    import json

    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_authorize_sends_a_logged_out_user_to_the_portal_log_in_and_back(app):
    _, challenge = _pkce()
    response, _ = _authorize(Client(), app, "patient/*.rs", challenge)
    assert response.status_code == 302
    login = urlsplit(response["Location"])
    assert login.path == "/accounts/login/"
    assert parse_qs(login.query)["next"][0].startswith("/o/authorize/?")


def test_offline_access_refresh_token_gives_a_new_access_token_once(location, app):
    """offline_access: the refresh token gives a new access token; replaying the used refresh
    token is refused (RFC 9700 reuse protection)."""
    me = PatientFactory(home_location=location)
    user = make_user("patient", patient=me)
    verifier, challenge = _pkce()
    code = _code(logged_in_client(user), app, "patient/*.rs offline_access", challenge)
    first = _token(app, code, verifier).json()
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": app.client_id,
    }
    renewed = Client().post("/o/token/", refresh)
    assert renewed.status_code == 200
    assert _bearer(renewed.json()["access_token"]).get(f"/fhir/Patient/{me.pk}").status_code == 200
    assert Client().post("/o/token/", refresh).status_code == 400
