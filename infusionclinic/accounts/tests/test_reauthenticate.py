import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from infusionclinic.accounts.services import user_reauthenticate
from infusionclinic.audit.models import AuditEvent
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def _current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def test_the_password_or_a_current_totp_code_reauthenticates(location):
    prescriber = make_user("prescriber", location)
    device = TOTPDevice.objects.create(user=prescriber, name="app", confirmed=True)
    assert user_reauthenticate(user=prescriber, secret=PASSWORD, purpose="sign order")
    assert user_reauthenticate(user=prescriber, secret=_current_code(device), purpose="sign")
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("secret", ["", "   ", "wrong-password", "000000", "12345"])
def test_a_wrong_secret_is_refused_and_audited(location, secret):
    prescriber = make_user("prescriber", location)
    TOTPDevice.objects.create(user=prescriber, name="app", confirmed=True)
    assert not user_reauthenticate(user=prescriber, secret=secret, purpose="witness waste")
    event = AuditEvent.objects.get(action="login_failed")
    assert event.detail == {"reauthentication": "witness waste"}
    assert event.actor == prescriber


def test_another_users_code_does_not_reauthenticate(location):
    prescriber = make_user("prescriber", location)
    other = make_user("nurse", location)
    other_device = TOTPDevice.objects.create(user=other, name="app", confirmed=True)
    TOTPDevice.objects.create(user=prescriber, name="app", confirmed=True)
    code = _current_code(other_device)
    assert not user_reauthenticate(user=prescriber, secret=code, purpose="sign order")
