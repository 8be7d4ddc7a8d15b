"""The cluster bench's own data (issue 20 section 2), made through the services in a Django process
against the cluster's database: `python -m bench.cluster.prepare` prints one JSON line.

On top of `bench.dataset`'s set-up (front desk, nurse and prescriber with TOTP; 8 infusions in
progress at `scale0` and BENCH_INGEST_SESSIONS more at the clinic's other locations, the 200
concurrent infusions of the issue) it adds:
- an administrator of the same locations with TOTP (the analytics page, read on the replica);
- for each bench patient an induction course and two open check-ins (PHQ-9 and GAD-7, due
  yesterday), with one API token per patient: the check-ins of the mix;
- the patients the bookings use (the bench patients, all bookable) and their home locations.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta
from typing import Any

ADMIN_EMAIL = "bench.admin@example.com"


def _admin(location_codes: list[str]) -> Any:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from bench.dataset import BENCH_PASSWORD
    from infusionclinic.accounts.models import Location, User

    user = User.objects.filter(email=ADMIN_EMAIL).first()
    if user is None:
        user = User.objects.create_user(
            email=ADMIN_EMAIL, password=BENCH_PASSWORD, role="admin", full_name="Bench admin"
        )
    user.locations.set(Location.objects.filter(code__in=location_codes))
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    return user


def _checkins(patients: list[Any], prescriber: Any) -> list[dict[str, Any]]:
    """Per patient: a course in induction and an open PHQ-9 and GAD-7 check-in (due yesterday
    at the clinic's local time, so open whatever the hour), and the patient's API token."""
    from django.db import transaction
    from django.utils import timezone

    from infusionclinic.accounts.services import api_token_create
    from infusionclinic.courses.checkins import checkin_due_at
    from infusionclinic.courses.models import CheckIn, TreatmentCourse
    from infusionclinic.courses.services import course_start

    out = []
    yesterday = timezone.localdate() - timedelta(days=1)
    for patient in patients:
        with transaction.atomic():
            course = TreatmentCourse.objects.filter(patient=patient).first() or course_start(
                actor=prescriber,
                patient=patient,
                indication="depression",
                primary_instrument="PHQ-9",
                started_at=timezone.now() - timedelta(days=3),
            )
            ids = []
            for code in ("PHQ-9", "GAD-7"):
                checkin, _ = CheckIn.objects.get_or_create(
                    course=course,
                    instrument_code=code,
                    due_on=yesterday,
                    defaults={
                        "phase": course.phase,
                        "every_days": 7,
                        "due_at": checkin_due_at(course=course, due_on=yesterday),
                    },
                )
                if checkin.completed_at is None:
                    ids.append(checkin.pk)
        out.append(
            {
                "patient_id": patient.pk,
                "token": api_token_create(user=patient.user, name="cluster bench"),
                "checkins": ids,
            }
        )
    return out


def _shifts(staff: list[Any], codes: list[str], days: int) -> int:
    """The bench's nurse and prescriber on shift through each location's opening hours for the
    next `days` days: an infusion is bookable only with both on site (scheduling's
    booking_problems), and seed_scale's rota covers its history, not the weeks ahead."""
    from django.utils import timezone

    from infusionclinic.accounts.models import Location
    from infusionclinic.scheduling.models import OpeningHours, StaffShift

    made = 0
    for location in Location.objects.filter(code__in=codes):
        hours = {h.weekday: h for h in OpeningHours.objects.filter(location=location)}
        today = timezone.localdate(timezone=location.tzinfo)
        for offset in range(days + 1):
            day = today + timedelta(days=offset)
            h = hours.get(day.weekday())
            if h is None:
                continue
            starts = datetime.combine(day, h.opens_at, tzinfo=location.tzinfo)
            ends = datetime.combine(day, h.closes_at, tzinfo=location.tzinfo)
            for user in staff:
                _, created = StaffShift.objects.get_or_create(
                    user=user, location=location, starts_at=starts, ends_at=ends
                )
                made += created
    return made


def prepare() -> dict[str, Any]:
    from bench.dataset import _setup, _totp_config
    from infusionclinic.accounts.models import Location, User
    from infusionclinic.patients.models import Patient
    from infusionclinic.scheduling.models import Chair

    setup = _setup()
    codes = list(Location.objects.values_list("code", flat=True))
    admin = _admin(codes)
    bench_patients = list(
        Patient.objects.filter(given_name="Bench", user__isnull=False)
        .select_related("user", "home_location")
        .order_by("pk")
    )
    prescriber = User.objects.get(email=setup["emails"]["prescriber"])
    nurse = User.objects.get(email=setup["emails"]["nurse"])
    # The mix books 7-35 days ahead and the double-booking step from 2 days on.
    setup["shifts_made"] = _shifts([prescriber, nurse], codes, days=36)
    setup["admin"] = {"email": ADMIN_EMAIL, "totp": _totp_config(admin)}
    setup["patients"] = _checkins(bench_patients, prescriber)
    setup["bookable"] = [
        {"patient_id": p.pk, "location": p.home_location.code} for p in bench_patients
    ]
    # Availability names a slot's chair; a booking of that chair sends its id.
    setup["chairs"] = {
        code: dict(Chair.objects.filter(location__code=code).values_list("name", "pk"))
        for code in codes
    }
    return setup


def main() -> int:
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    import django

    django.setup()
    print(json.dumps(prepare()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
