"""The schema is published, every endpoint wants a live bearer token, and `create_api_token`
prints one that works (issue 2, sections 6 and 7)."""

import json

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test import Client
from django.utils import timezone

from infusionclinic.accounts.models import ApiToken
from infusionclinic.accounts.services import api_token_create
from tests.factories import PatientFactory, make_user

from .helpers import API, assert_error

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/locations"),
    ("get", "/patients"),
    ("post", "/patients"),
    ("get", "/patients/{id}"),
    ("patch", "/patients/{id}"),
]


def _call(client: Client, method: str, path: str, patient_id: int):
    url = API + path.format(id=patient_id)
    if method in ("post", "patch"):
        return getattr(client, method)(url, data="{}", content_type="application/json")
    return getattr(client, method)(url)


def test_openapi_schema_is_served_without_a_token_and_lists_the_endpoints():
    response = Client().get(f"{API}/openapi.json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert {"get"} <= set(paths["/api/v1/locations"])
    assert {"get", "post"} <= set(paths["/api/v1/patients"])
    assert {"get", "patch"} <= set(paths["/api/v1/patients/{patient_id}"])
    assert "BearerTokenAuth" in json.dumps(schema["components"]["securitySchemes"])


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_token_answers_401_json(location, method, path):
    patient = PatientFactory(home_location=location)

    response = _call(Client(), method, path, patient.pk)

    assert_error(response, 401)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ic_not-a-real-token",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token ic_abc",
    ],
)
def test_wrong_or_malformed_token_answers_401_json(location, header):
    make_user("front_desk", location)

    response = Client(headers={"Authorization": header}).get(f"{API}/locations")

    assert_error(response, 401)


def test_a_valid_token_is_accepted(location):
    user = make_user("front_desk", location)
    token = api_token_create(user=user)

    response = Client(headers={"Authorization": f"Bearer {token}"}).get(f"{API}/locations")

    assert response.status_code == 200
    assert ApiToken.objects.get(user=user).last_used_at is not None


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_revoked_token_answers_401_json(location, method, path):
    user = make_user("admin", location)
    patient = PatientFactory(home_location=location)
    token = api_token_create(user=user)
    ApiToken.objects.filter(user=user).update(revoked_at=timezone.now())
    client = Client(headers={"Authorization": f"Bearer {token}"})

    response = _call(client, method, path, patient.pk)

    assert_error(response, 401)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_token_of_an_inactive_user_answers_401_json(location, method, path):
    user = make_user("admin", location)
    patient = PatientFactory(home_location=location)
    token = api_token_create(user=user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    client = Client(headers={"Authorization": f"Bearer {token}"})

    response = _call(client, method, path, patient.pk)

    assert_error(response, 401)


def test_only_the_digest_of_a_token_is_stored(location):
    user = make_user("nurse", location)

    token = api_token_create(user=user)

    stored = ApiToken.objects.get(user=user)
    assert token not in (stored.digest, stored.prefix)
    assert stored.digest == ApiToken.digest_of(token)


def test_a_browser_session_is_not_an_api_credential(location):
    """The API reads only the bearer header: a logged-in browser cookie gives no access (and so
    no cross-site request can ride on it)."""
    user = make_user("front_desk", location)
    client = Client()
    client.force_login(user)

    response = client.get(f"{API}/locations")

    assert_error(response, 401)


# manage.py create_api_token EMAIL


def _manage(monkeypatch, *argv: str) -> None:
    """Run a command as `manage.py` does (argument parsing, stdout, exit status), in-process so
    it sees the test database. manage.py closes every connection when a command ends, which would
    end the test's transaction on PostgreSQL; that one step is skipped here."""
    monkeypatch.setattr(connections, "close_all", lambda: None)
    ManagementUtility(["manage.py", *argv]).execute()


def test_create_api_token_prints_only_a_working_token(location, capsys, monkeypatch):
    user = make_user("nurse", location)

    _manage(monkeypatch, "create_api_token", user.email)

    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1
    assert out == lines[0] + "\n"
    token = lines[0]
    assert token == token.strip()
    assert len(token) >= 32
    assert err == ""
    response = Client(headers={"Authorization": f"Bearer {token}"}).get(f"{API}/locations")
    assert response.status_code == 200
    assert response.json() == [
        {"code": location.code, "name": location.name, "timezone": location.timezone}
    ]


def test_create_api_token_matches_email_case_insensitively(location, capsys):
    user = make_user("nurse", location)

    call_command("create_api_token", user.email.upper())

    token = capsys.readouterr().out.strip()
    assert ApiToken.objects.filter(user=user, digest=ApiToken.digest_of(token)).exists()


def test_each_create_api_token_run_makes_a_new_token(location, capsys):
    user = make_user("nurse", location)

    call_command("create_api_token", user.email)
    call_command("create_api_token", user.email)

    first, second = capsys.readouterr().out.split()
    assert first != second
    assert ApiToken.objects.filter(user=user).count() == 2


def test_create_api_token_for_unknown_email_raises_command_error():
    with pytest.raises(CommandError, match="nobody@example.com"):
        call_command("create_api_token", "nobody@example.com")

    assert not ApiToken.objects.exists()


def test_create_api_token_for_unknown_email_exits_non_zero_and_prints_no_token(capsys, monkeypatch):
    with pytest.raises(SystemExit) as exited:
        _manage(monkeypatch, "create_api_token", "nobody@example.com")

    assert exited.value.code != 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "nobody@example.com" in err
    assert not ApiToken.objects.exists()


def test_create_api_token_refuses_an_inactive_user(location):
    user = make_user("nurse", location)
    user.is_active = False
    user.save(update_fields=["is_active"])

    with pytest.raises(CommandError):
        call_command("create_api_token", user.email)

    assert not ApiToken.objects.filter(user=user).exists()
