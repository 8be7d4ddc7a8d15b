"""`manage.py create_user` (issue 2 §7): creates a user without prompts, links a patient user to the
chart with that MRN, and refuses bad input with a non-zero exit and no user created."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from infusionclinic.accounts.management.commands.create_user import Command as CreateUser
from infusionclinic.accounts.models import User
from tests.factories import PASSWORD, PatientFactory, make_user

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command("create_user", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_creates_a_staff_user_at_a_location_without_prompts(monkeypatch, location):
    # Any prompt would read stdin; make that fail loudly.
    monkeypatch.setattr("builtins.input", lambda *_: pytest.fail("prompted"))
    out = _run(
        "Nurse.Jo@Example.com", "--role", "nurse", "--location", "north", "--password", PASSWORD
    )
    user = User.objects.get(email="nurse.jo@example.com")
    assert user.role == "nurse"
    assert [loc.code for loc in user.locations.all()] == ["north"]
    assert user.check_password(PASSWORD)
    assert not user.is_staff  # Django admin is for clinic admins only
    assert "Created nurse nurse.jo@example.com" in out


def test_staff_user_may_belong_to_several_locations(location, other_location):
    _run(
        "pres@example.com",
        "--role",
        "prescriber",
        "--location",
        "north",
        "--location",
        "south",
        "--password",
        PASSWORD,
    )
    user = User.objects.get(email="pres@example.com")
    assert sorted(loc.code for loc in user.locations.all()) == ["north", "south"]


def test_admin_user_gets_django_admin_access(location):
    _run("boss@example.com", "--role", "admin", "--location", "north", "--password", PASSWORD)
    assert User.objects.get(email="boss@example.com").is_staff


def test_patient_user_is_linked_to_the_chart_with_that_mrn(location):
    patient = PatientFactory(home_location=location)
    _run("pat@example.com", "--role", "patient", "--patient", patient.mrn, "--password", PASSWORD)
    user = User.objects.get(email="pat@example.com")
    patient.refresh_from_db()
    assert patient.user == user
    assert user.role == "patient"
    assert not user.locations.exists()


def test_user_without_a_password_cannot_log_in_until_reset(location):
    _run("nopass@example.com", "--role", "front_desk", "--location", "north")
    assert not User.objects.get(email="nopass@example.com").has_usable_password()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "janitor", "--location", "north"], "invalid choice: 'janitor'"),
        (["--role", "nurse", "--location", "nowhere"], "Unknown location code(s): nowhere"),
        (["--role", "nurse"], "Staff must belong to at least one location"),
        (["--role", "patient", "--patient", "000000000"], "No patient with MRN 000000000"),
        (["--role", "patient"], "must be linked to a chart"),
        (["--role", "nurse", "--location", "north", "--password", "short"], "password"),
        (["--role", "nurse", "--location", "north", "--password", "password1234"], "too common"),
        (["--role", "nurse", "--location", "north", "--password", "918273645012"], "numeric"),
    ],
    ids=[
        "bad-role",
        "bad-location",
        "staff-without-location",
        "unknown-mrn",
        "patient-without-mrn",
        "short-password",
        "common-password",
        "numeric-password",
    ],
)
def test_bad_input_raises_command_error_and_creates_no_user(location, args, message):
    before = User.objects.count()
    with pytest.raises(CommandError, match="(?i)" + re.escape(message)):
        _run("new@example.com", *args)
    assert User.objects.count() == before
    assert not User.objects.filter(email="new@example.com").exists()


def test_existing_email_is_refused(location):
    existing = make_user("nurse", location)
    with pytest.raises(CommandError, match="already exists"):
        _run(existing.email.upper(), "--role", "nurse", "--location", "north")


def test_chart_that_already_has_a_log_in_is_not_linked_again(location):
    patient = PatientFactory(home_location=location)
    first = make_user("patient", patient=patient)
    with pytest.raises(CommandError, match="already has a log-in"):
        _run("second@example.com", "--role", "patient", "--patient", patient.mrn)
    patient.refresh_from_db()
    assert patient.user == first


@pytest.mark.parametrize(
    "args",
    [
        ["--role", "janitor", "--location", "north"],
        ["--role", "nurse", "--location", "nowhere", "--password", PASSWORD],
    ],
    ids=["argument-error", "validation-error"],
)
def test_refusal_exits_non_zero_from_the_command_line(monkeypatch, capsys, location, args):
    # run_from_argv is what `manage.py create_user ...` runs; keep the test's connection open.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    with pytest.raises(SystemExit) as exc:
        CreateUser().run_from_argv(["manage.py", "create_user", "cli@example.com", *args])
    assert exc.value.code != 0
    assert capsys.readouterr().err
    assert not User.objects.filter(email="cli@example.com").exists()
