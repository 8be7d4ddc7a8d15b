"""Log-in, two-factor, lockout, idle log-off, password reset, production refusals and the security
headers (issue 2, section 3), exercised through the real pages as a browser would."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client, override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from infusionclinic.accounts.middleware import LAST_SEEN_RESOLUTION_SECONDS
from infusionclinic.accounts.models import User
from infusionclinic.audit.models import AuditAction, AuditEvent
from tests.factories import PASSWORD, PatientFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parents[2]
LOGIN_URL = "/accounts/login/"
TWO_FACTOR_URL = "/accounts/two-factor/"
NEW_PASSWORD = "Violet-lantern-orbit-73"


def _log_in(client: Client, email: str, password: str):
    return client.post(LOGIN_URL, {"username": email, "password": password})


def _patient_user(location) -> User:
    return make_user("patient", patient=PatientFactory(home_location=location))


def _code(device: TOTPDevice, drift: int = 0) -> str:
    """The code an authenticator app shows now for this device."""
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + drift)
    return f"{value:0{device.digits}d}"


def _wrong_code(device: TOTPDevice) -> str:
    """A code that is valid for no time step the device would accept now."""
    accepted = {_code(device, drift) for drift in range(-3, 4)}
    candidate = int(_code(device))
    while f"{candidate:06d}" in accepted:
        candidate = (candidate + 1) % 10**6
    return f"{candidate:06d}"


def _is_logged_in(client: Client) -> bool:
    response = client.get("/home/")
    return response.wsgi_request.user.is_authenticated


# --- Log-in by email and password ------------------------------------------------------------


def test_log_in_by_email_and_password_through_the_form(location):
    user = _patient_user(location)
    client = Client()
    response = _log_in(client, user.email.upper(), PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/home/"
    assert _is_logged_in(client)
    assert AuditEvent.objects.filter(actor=user, action=AuditAction.LOGIN).count() == 1


def test_wrong_password_is_refused_and_audited(location):
    user = _patient_user(location)
    client = Client()
    response = _log_in(client, user.email, "Not-the-password-1")
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content
    assert not _is_logged_in(client)
    failed = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert failed.detail == {"email": user.email}


def test_passwords_are_stored_as_argon2_hashes(location):
    user = _patient_user(location)
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")
    assert PASSWORD not in user.password


# --- Staff two-factor (TOTP) ------------------------------------------------------------------


def test_tests_run_with_staff_two_factor_required():
    assert settings.STAFF_2FA_REQUIRED is True


def test_staff_without_device_is_sent_to_setup_and_a_correct_code_lets_them_in(location):
    nurse = make_user("nurse", location)
    client = Client()
    assert _log_in(client, nurse.email, PASSWORD).status_code == 302

    # Password alone opens nothing but the two-factor step.
    response = client.get("/home/")
    assert response.status_code == 302
    assert response["Location"] == TWO_FACTOR_URL
    assert client.get("/patients/")["Location"] == TWO_FACTOR_URL

    setup = client.get(TWO_FACTOR_URL)
    assert setup.status_code == 200
    assert b"Set up two-factor log-in" in setup.content
    assert b"<svg" in setup.content
    device = TOTPDevice.objects.get(user=nurse)
    assert device.confirmed is False
    key_shown = re.search(rb'<span class="secret">([A-Z2-7 ]+)</span>', setup.content)
    assert key_shown is not None

    response = client.post(TWO_FACTOR_URL, {"token": _code(device)})
    assert response.status_code == 302
    assert response["Location"] == "/home/"
    device.refresh_from_db()
    assert device.confirmed is True
    home = client.get("/home/")
    assert home.status_code == 200
    assert b"<h1>Nursing</h1>" in home.content

    # Next log-in: the confirmed device must be used again; no new enrolment is offered.
    client.post("/accounts/logout/")
    assert _log_in(client, nurse.email, PASSWORD).status_code == 302
    assert client.get("/home/")["Location"] == TWO_FACTOR_URL
    verify = client.get(TWO_FACTOR_URL)
    assert b"Two-factor log-in" in verify.content
    assert b"<svg" not in verify.content
    assert TOTPDevice.objects.filter(user=nurse).count() == 1


def test_setup_refuses_a_wrong_code(location):
    nurse = make_user("nurse", location)
    client = Client()
    _log_in(client, nurse.email, PASSWORD)
    client.get(TWO_FACTOR_URL)
    device = TOTPDevice.objects.get(user=nurse)

    response = client.post(TWO_FACTOR_URL, {"token": _wrong_code(device)})
    assert response.status_code == 200
    assert b"That code does not match" in response.content
    device.refresh_from_db()
    assert device.confirmed is False
    assert client.get("/home/")["Location"] == TWO_FACTOR_URL


def test_staff_with_a_confirmed_device_must_enter_a_code_at_log_in(location):
    prescriber = make_user("prescriber", location)
    device = TOTPDevice.objects.create(user=prescriber, name="phone", confirmed=True)
    client = Client()
    assert _log_in(client, prescriber.email, PASSWORD).status_code == 302
    assert client.get("/home/")["Location"] == TWO_FACTOR_URL

    response = client.post(TWO_FACTOR_URL, {"token": _code(device)})
    assert response.status_code == 302
    home = client.get("/home/")
    assert home.status_code == 200
    assert b"<h1>Prescriber</h1>" in home.content


def test_log_in_code_check_refuses_a_wrong_code(location):
    prescriber = make_user("prescriber", location)
    device = TOTPDevice.objects.create(user=prescriber, name="phone", confirmed=True)
    client = Client()
    _log_in(client, prescriber.email, PASSWORD)

    response = client.post(TWO_FACTOR_URL, {"token": _wrong_code(device)})
    assert response.status_code == 200
    assert b"That code is not right" in response.content
    assert client.get("/home/")["Location"] == TWO_FACTOR_URL


def test_a_patient_is_not_asked_for_two_factor(location):
    user = _patient_user(location)
    client = Client()
    _log_in(client, user.email, PASSWORD)
    response = client.get("/home/", follow=True)
    assert response.redirect_chain == [("/my/", 302)]
    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=user).exists()


# --- Production refuses unsafe settings -------------------------------------------------------

GOOD_PRODUCTION_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "clinic.example.org",
    "AUDIT_HMAC_KEYS": json.dumps({"k1": secrets.token_urlsafe(48)}),
    "AUDIT_HMAC_KEY_ID": "k1",
}
IMPORT_PRODUCTION = (
    "import django\n"
    "django.setup()\n"
    "from django.conf import settings\n"
    "from django.contrib.auth.hashers import make_password\n"
    "print(settings.DEBUG, make_password('x').split('$')[0])\n"
    "print(settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY,\n"
    "      settings.SESSION_COOKIE_SAMESITE, settings.CSRF_COOKIE_SECURE,\n"
    "      settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS >= 31536000)\n"
)


def _import_production_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108
        "PYTHONPATH": str(BASE_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        **env,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", IMPORT_PRODUCTION],
        cwd=BASE_DIR,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_production_settings_start_with_a_safe_environment():
    result = _import_production_settings(GOOD_PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    debug_and_hasher, cookies_and_tls = result.stdout.splitlines()
    assert debug_and_hasher.split() == ["False", "argon2"]
    # Secure, HttpOnly, SameSite cookies; HTTPS only, HSTS for a year (issue 11 item 7).
    assert cookies_and_tls.split() == ["True", "True", "Lax", "True", "True", "True"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be set"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must name the hosts"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS must name the hosts"),
        ({"DEMO_MODE": "true"}, "DEMO_MODE must be off in production"),
        ({"STAFF_2FA_REQUIRED": "false"}, "STAFF_2FA_REQUIRED cannot be turned off"),
        # issue 22.4: the audit chain's keys come from the environment, not SECRET_KEY
        ({"AUDIT_HMAC_KEYS": ""}, "AUDIT_HMAC_KEYS and AUDIT_HMAC_KEY_ID must be set"),
        ({"AUDIT_HMAC_KEY_ID": "k2"}, "AUDIT_HMAC_KEY_ID must name one of AUDIT_HMAC_KEYS"),
        ({"AUDIT_HMAC_KEYS": '{"k1": "short"}'}, "at least 32 characters"),
    ],
    ids=[
        "no-secret-key",
        "short-secret-key",
        "no-hosts",
        "any-host",
        "demo-mode",
        "no-2fa",
        "no-audit-keys",
        "unknown-audit-key-id",
        "short-audit-key",
    ],
)
def test_production_settings_refuse_an_unsafe_environment(change, problem):
    env = {k: v for k, v in {**GOOD_PRODUCTION_ENV, **change}.items() if v}
    result = _import_production_settings(env)
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: Refusing to start" in result.stderr
    assert problem in result.stderr


# --- Lockout (django-axes) --------------------------------------------------------------------


def test_account_is_locked_after_the_failure_limit_even_for_the_right_password(location):
    assert settings.AXES_FAILURE_LIMIT == 5
    user = _patient_user(location)
    client = Client()
    # However the address is typed, the failures count against the one account.
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        typed = user.email.upper() if attempt % 2 else user.email
        response = _log_in(client, typed, "Not-the-password-1")
        assert response.status_code == 200
    response = _log_in(client, user.email, "Not-the-password-1")
    assert response.status_code == 429
    assert b"Account locked" in response.content
    failures = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED)
    assert failures.count() == settings.AXES_FAILURE_LIMIT
    assert {e.detail["email"].lower() for e in failures} == {user.email}

    response = _log_in(Client(), user.email, PASSWORD)
    assert response.status_code == 429
    assert b"Account locked" in response.content
    assert not _is_logged_in(client)
    assert not AuditEvent.objects.filter(action=AuditAction.LOGIN).exists()


def test_lockout_is_per_account(location):
    victim = _patient_user(location)
    other = _patient_user(location)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _log_in(Client(), victim.email, "Not-the-password-1")
    client = Client()
    assert _log_in(client, other.email, PASSWORD).status_code == 302
    assert _is_logged_in(client)


# --- Idle log-off -----------------------------------------------------------------------------


def _login_redirect_next(response) -> str | None:
    """The `next` of a redirect to the log-in page, or None if it is not one."""
    target = urlsplit(response["Location"])
    if response.status_code != 302 or target.path != LOGIN_URL:
        return None
    return parse_qs(target.query).get("next", [None])[0]


def _idle_for(client: Client, seconds: float) -> None:
    session = client.session
    session["_last_seen"] = time.time() - seconds
    session.save()


def test_idle_session_is_logged_off_and_audited(location):
    nurse = make_user("nurse", location)
    client = logged_in_client(nurse)
    assert client.get("/home/").status_code == 200
    _idle_for(client, settings.IDLE_TIMEOUT_MINUTES * 60 + 5)

    response = client.get("/patients/")
    assert response.status_code == 302
    assert _login_redirect_next(response) == "/patients/"
    again = client.get("/home/")
    assert again.status_code == 302
    assert again["Location"].startswith(LOGIN_URL)
    assert again.wsgi_request.user.is_anonymous
    event = AuditEvent.objects.get(action=AuditAction.LOGOUT)
    assert event.actor == nurse
    assert event.detail == {"reason": "idle"}


def test_a_request_inside_the_idle_window_keeps_the_session(location):
    nurse = make_user("nurse", location)
    client = logged_in_client(nurse)
    client.get("/home/")
    _idle_for(client, settings.IDLE_TIMEOUT_MINUTES * 60 - 30)

    assert client.get("/patients/").status_code == 200
    assert time.time() - client.session["_last_seen"] < 30
    assert not AuditEvent.objects.filter(action=AuditAction.LOGOUT).exists()


def test_a_fresh_last_seen_stamp_is_not_rewritten_but_an_older_one_is(location):
    nurse = make_user("nurse", location)
    client = logged_in_client(nurse)
    client.get("/home/")
    _idle_for(client, LAST_SEEN_RESOLUTION_SECONDS - 5)
    stamp = client.session["_last_seen"]

    client.get("/patients/")
    assert client.session["_last_seen"] == stamp  # no session write for this request

    _idle_for(client, LAST_SEEN_RESOLUTION_SECONDS + 1)
    client.get("/patients/")
    assert time.time() - client.session["_last_seen"] < 5


@override_settings(IDLE_TIMEOUT_MINUTES=2)
def test_idle_timeout_is_configurable(location):
    user = _patient_user(location)
    client = logged_in_client(user)
    client.get("/home/")
    _idle_for(client, 3 * 60)
    assert _login_redirect_next(client.get("/my/chart/")) == "/my/chart/"
    assert not _is_logged_in(client)


# --- Password reset by email ------------------------------------------------------------------

RESET_LINK = re.compile(r"https?://[^/\s]+(/accounts/reset/[^/\s]+/[^/\s]+/)")


def test_password_reset_mails_a_link_that_sets_a_new_password(location):
    user = _patient_user(location)
    client = Client()
    response = client.post("/accounts/password-reset/", {"email": user.email})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password-reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    link = RESET_LINK.search(message.body)
    assert link is not None

    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200
    assert b"Choose a new password" in form.content
    set_password_url = form.redirect_chain[-1][0]
    response = client.post(
        set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reset/done/"

    assert _log_in(Client(), user.email, PASSWORD).status_code == 200  # old one refused
    fresh = Client()
    assert _log_in(fresh, user.email, NEW_PASSWORD).status_code == 302
    assert _is_logged_in(fresh)
    # The link works once.
    reused = Client().get(link.group(1), follow=True)
    assert b"This link is invalid or has expired" in reused.content


def test_password_reset_for_an_unknown_email_sends_nothing_and_looks_the_same(location):
    user = _patient_user(location)
    known = Client().post("/accounts/password-reset/", {"email": user.email})
    mail.outbox.clear()

    unknown = Client().post("/accounts/password-reset/", {"email": "nobody@example.com"})
    assert unknown.status_code == known.status_code
    assert unknown["Location"] == known["Location"]
    assert mail.outbox == []


# --- Security headers, no CDN ----------------------------------------------------------------


def _csp(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


@pytest.mark.parametrize("role", ["anonymous", "patient", "nurse"])
def test_pages_carry_security_headers_and_a_strict_csp(location, role):
    if role == "anonymous":
        client, url = Client(), LOGIN_URL
    else:
        client = logged_in_client(
            _patient_user(location) if role == "patient" else make_user(role, location)
        )
        url = "/home/" if role == "nurse" else "/my/chart/"
    response = client.get(url)
    assert response.status_code == 200

    csp = _csp(response)
    assert csp["default-src"] == ["'self'"]
    assert "'self'" in csp["script-src"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert "'unsafe-inline'" not in csp.get("style-src", [])
    assert csp["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
LINK_TAG = re.compile(r"<link\b([^>]*)>", re.IGNORECASE)
URL_ATTR = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
EXTERNAL = re.compile(r"^(?:https?:)?//", re.IGNORECASE)


def _rendered_pages(location) -> dict[str, bytes]:
    patient = PatientFactory(home_location=location)
    patient_user = _patient_user(location)
    pages: dict[str, bytes] = {}
    anonymous = Client()
    for url in (LOGIN_URL, "/accounts/password-reset/", "/accounts/password-reset/sent/"):
        pages[f"anonymous {url}"] = anonymous.get(url).content
    new_staff = Client()
    new_staff.force_login(make_user("nurse", location))
    pages["two-factor setup"] = new_staff.get(TWO_FACTOR_URL).content
    pages["patient /my/chart/"] = logged_in_client(patient_user).get("/my/chart/").content
    for role in ("front_desk", "nurse", "prescriber", "admin"):
        client = logged_in_client(make_user(role, location))
        for url in ("/home/", "/patients/", f"/patients/{patient.pk}/"):
            pages[f"{role} {url}"] = client.get(url).content
    admin = logged_in_client(make_user("admin", location))
    for url in ("/patients/new/", f"/patients/{patient.pk}/edit/", "/audit/"):
        pages[f"admin {url}"] = admin.get(url).content
    return pages


def test_no_page_loads_anything_from_another_origin_or_inline(location):
    pages = _rendered_pages(location)
    assert len(pages) >= 15
    external = []
    inline_scripts = []
    for name, content in pages.items():
        html = content.decode()
        for tag in (*SCRIPT_TAG.findall(html), *LINK_TAG.findall(html)):
            external += [(name, url) for url in URL_ATTR.findall(tag) if EXTERNAL.match(url)]
        inline_scripts += [name for attrs in SCRIPT_TAG.findall(html) if "src=" not in attrs]
    assert external == []  # no CDN: every script and stylesheet is served by the clinic
    # The CSP allows neither inline scripts nor inline styles: the browser would block them.
    assert inline_scripts == []
    inline_styles = [
        name
        for name, content in pages.items()
        if re.search(rb"<style\b|\sstyle\s*=", content, re.IGNORECASE)
    ]
    assert inline_styles == []


# --- Cookies and log-out ----------------------------------------------------------------------


def test_session_cookie_is_http_only(location):
    user = _patient_user(location)
    response = _log_in(Client(), user.email, PASSWORD)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_forms_refuse_a_post_without_the_csrf_token(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    client = logged_in_client(nurse)
    client.handler.enforce_csrf_checks = True
    response = client.post(f"/patients/{patient.pk}/allergies/", {"substance": "Latex"})
    assert response.status_code == 403
    assert not patient.allergies.exists()
    login = Client(enforce_csrf_checks=True).post(
        LOGIN_URL, {"username": nurse.email, "password": PASSWORD}
    )
    assert login.status_code == 403


def test_logout_is_post_only(location):
    user = _patient_user(location)
    client = logged_in_client(user)
    response = client.get("/accounts/logout/")
    assert response.status_code == 405
    assert _is_logged_in(client)

    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == LOGIN_URL
    assert not _is_logged_in(client)
    event = AuditEvent.objects.get(action=AuditAction.LOGOUT)
    assert event.actor == user
    assert event.detail == {}
