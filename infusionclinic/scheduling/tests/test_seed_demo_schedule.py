import pytest
from django.core.management import CommandError, call_command

from infusionclinic.scheduling.models import Chair, OpeningHours, StaffShift
from infusionclinic.scheduling.selectors import availability
from tests.factories import make_user

from .factories import future_day

pytestmark = pytest.mark.django_db


def test_demo_schedule_makes_infusions_bookable_and_is_idempotent(location, settings):
    settings.DEMO_MODE = True
    make_user("nurse", location)
    make_user("prescriber", location)
    call_command("seed_demo_schedule", stdout=None)
    counts = (OpeningHours.objects.count(), Chair.objects.count(), StaffShift.objects.count())
    call_command("seed_demo_schedule", stdout=None)
    assert counts == (
        OpeningHours.objects.count(),
        Chair.objects.count(),
        StaffShift.objects.count(),
    )
    weekday = next(d for d in (future_day(n) for n in range(3, 10)) if d.weekday() < 5)
    assert availability(location=location, day=weekday, kind="infusion")


def test_demo_schedule_refuses_outside_demo_mode(settings):
    settings.DEMO_MODE = False
    with pytest.raises(CommandError):
        call_command("seed_demo_schedule")
