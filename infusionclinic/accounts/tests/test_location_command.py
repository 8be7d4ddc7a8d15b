import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from infusionclinic.accounts.models import Location

pytestmark = pytest.mark.django_db


def test_create_location_makes_a_site_with_its_time_zone():
    call_command(
        "create_location", "reno", name="Reno", timezone="America/Los_Angeles", clinic="Sierra"
    )
    location = Location.objects.get(code="reno")
    assert location.timezone == "America/Los_Angeles"
    assert location.clinic.name == "Sierra"


@pytest.mark.parametrize(
    ("code", "tz", "message"),
    [("reno", "Pacific Time", "IANA"), ("no spaces", "UTC", "code")],
)
def test_create_location_refuses_bad_input_and_saves_nothing(code, tz, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_location", code, name="Reno", timezone=tz, clinic="Sierra")
    assert not Location.objects.exists()
