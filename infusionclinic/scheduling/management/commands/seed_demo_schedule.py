"""Demo scheduling resources: weekday opening hours, six chairs per location, and shifts for
every demo nurse and prescriber from PAST_DAYS ago (the demo's history of visits,
`demo/visits.py`) to 60 days ahead. Demo mode only; safe to re-run. (Kept apart from `seed_demo`
so the branches merge cleanly; `seed_demo` calls `schedule_seed` before the visits.)"""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Role
from infusionclinic.scheduling.models import Chair, OpeningHours, StaffShift

DAYS = 60
PAST_DAYS = 130
CHAIRS = 6


def schedule_seed() -> None:
    """Opening hours, chairs and shifts at every location (idempotent)."""
    for location in Location.objects.all():
        _seed(location)


class Command(BaseCommand):
    help = "Load demo opening hours, chairs and staff shifts (DEMO_MODE only; idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("seed_demo_schedule only runs with DEMO_MODE on.")
        with transaction.atomic():
            schedule_seed()
        self.stdout.write("Demo schedule ready.")


def _seed(location: Location) -> None:
    for weekday in range(5):
        OpeningHours.objects.get_or_create(
            location=location,
            weekday=weekday,
            defaults={"opens_at": time(8), "closes_at": time(18)},
        )
    for number in range(1, CHAIRS + 1):
        Chair.objects.get_or_create(location=location, name=f"Chair {number}")
    staff = list(
        User.objects.filter(
            locations=location, role__in=[Role.NURSE, Role.PRESCRIBER], is_active=True
        )
    )
    today = timezone.localdate(timezone=location.tzinfo)
    have = set(
        StaffShift.objects.filter(location=location).values_list("user_id", "starts_at", "ends_at")
    )
    missing = []
    for offset in range(-PAST_DAYS, DAYS):
        day = today + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        starts = datetime.combine(day, time(7, 30), tzinfo=location.tzinfo)
        ends = datetime.combine(day, time(18, 30), tzinfo=location.tzinfo)
        for user in staff:
            if (user.pk, starts, ends) not in have:
                missing.append(
                    StaffShift(user=user, location=location, starts_at=starts, ends_at=ends)
                )
    StaffShift.objects.bulk_create(missing)
