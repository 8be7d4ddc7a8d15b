"""Demo scheduling resources: weekday opening hours, four chairs per location, and shifts for
every demo nurse and prescriber for the next 60 days. Demo mode only; safe to re-run. (Kept
apart from `seed_demo` so the branches merge cleanly; `seed_demo` may call it.)"""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Role
from infusionclinic.scheduling.models import Chair, OpeningHours, StaffShift

DAYS = 60
CHAIRS = 4


class Command(BaseCommand):
    help = "Load demo opening hours, chairs and staff shifts (DEMO_MODE only; idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("seed_demo_schedule only runs with DEMO_MODE on.")
        with transaction.atomic():
            for location in Location.objects.all():
                self._seed(location)
        self.stdout.write("Demo schedule ready.")

    def _seed(self, location: Location) -> None:
        for weekday in range(5):
            OpeningHours.objects.get_or_create(
                location=location,
                weekday=weekday,
                defaults={"opens_at": time(8), "closes_at": time(18)},
            )
        for number in range(1, CHAIRS + 1):
            Chair.objects.get_or_create(location=location, name=f"Chair {number}")
        staff = User.objects.filter(
            locations=location, role__in=[Role.NURSE, Role.PRESCRIBER], is_active=True
        )
        today = timezone.localdate(timezone=location.tzinfo)
        for offset in range(DAYS):
            day = today + timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            starts = datetime.combine(day, time(7, 30), tzinfo=location.tzinfo)
            ends = datetime.combine(day, time(18, 30), tzinfo=location.tzinfo)
            for user in staff:
                StaffShift.objects.get_or_create(
                    user=user, location=location, starts_at=starts, ends_at=ends
                )
