"""Session security (issue 11, items 6 and 7): log-out everywhere, a new session key at log-in,
an old cookie useless after log-out, Argon2id hashes, no-store caching of patient data."""

import pytest
from django.test import Client

from infusionclinic.audit.models import AuditEvent
from tests.factories import PASSWORD, PatientFactory, api_client, logged_in_client, make_user

pytestmark = pytest.mark.django_db


def test_passwords_are_hashed_with_argon2id(location):
    user = make_user("nurse", location)
    assert user.password.startswith("argon2$argon2id$")


def test_log_in_issues_a_new_session_key(location):
    user = make_user("patient")
    client = Client()
    anonymous = client.session  # a real, stored pre-log-in session (session fixation attempt)
    anonymous["seen"] = True
    anonymous.save()
    before = anonymous.session_key
    client.cookies["sessionid"] = before
    client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert client.session.get("_auth_user_id") == str(user.pk)
    assert client.session.session_key != before


def test_an_old_session_cookie_is_useless_after_log_out(location):
    nurse = make_user("nurse", location)
    client = logged_in_client(nurse)
    stolen = client.cookies["sessionid"].value
    assert client.get("/patients/").status_code == 200
    client.post("/accounts/logout/")
    replay = Client()
    replay.cookies["sessionid"] = stolen
    response = replay.get("/patients/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_log_out_everywhere_ends_the_users_other_sessions_and_is_audited(location):
    nurse = make_user("nurse", location)
    laptop = logged_in_client(nurse)
    phone = logged_in_client(nurse)
    colleague = logged_in_client(make_user("nurse", location))

    response = laptop.post("/accounts/logout-everywhere/")

    assert response.status_code == 302
    assert phone.get("/patients/").status_code == 302  # back to log-in
    assert laptop.get("/patients/").status_code == 302
    assert colleague.get("/patients/").status_code == 200
    event = AuditEvent.objects.get(action="logout", actor=nurse)
    assert event.detail == {"scope": "everywhere"}


def test_log_out_everywhere_is_post_only(location):
    client = logged_in_client(make_user("nurse", location))
    assert client.get("/accounts/logout-everywhere/").status_code == 405


def test_pages_with_patient_data_are_never_cached(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    client = logged_in_client(nurse)
    for url in ("/patients/", f"/patients/{patient.pk}/", "/home/"):
        cache_control = client.get(url)["Cache-Control"]
        assert "no-store" in cache_control
        assert "private" in cache_control


def test_api_answers_are_never_cached(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    client = api_client(nurse)
    for url in (f"/api/v1/patients/{patient.pk}", "/api/v1/patients?q=", "/api/v1/nope"):
        assert "no-store" in client.get(url).get("Cache-Control", "")
    assert "no-store" in Client().get("/api/v1/locations")["Cache-Control"]  # 401 too


def test_a_nul_character_in_a_search_is_a_400_not_a_server_error(location):
    """PostgreSQL text cannot hold NUL: refused at the edge on every page (issue 11: bad input)."""
    client = logged_in_client(make_user("nurse", location))
    assert client.post("/patients/", {"q": "Sm\x00ith"}).status_code == 400
    assert client.get("/patients/", {"q": "Sm\x00ith"}).status_code == 400
    assert client.post("/patients/", {"q": "Smith"}).status_code == 200
