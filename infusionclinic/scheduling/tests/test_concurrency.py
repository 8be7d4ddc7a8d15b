"""No double-booking under concurrent requests (issue 8 "done when")."""

import threading

import pytest
from django.db import connection, connections

from infusionclinic.scheduling.models import Appointment
from infusionclinic.scheduling.services import BookingConflict, appointment_book
from tests.factories import PatientFactory, make_user

from .factories import future_day, local, staffed_location

ATTEMPTS = 50


POSTGRESQL_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises all writers (IMMEDIATE transactions); concurrency is a PostgreSQL "
    "property. test_services shows sequential double-booking is refused on both.",
)


def _race(desk, location, patients, starts_at, chairs):
    """Every patient's booking attempt at once (patient i on chairs[i]), each thread on its own
    connection."""
    barrier = threading.Barrier(len(patients))
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(patient, chair):
        try:
            barrier.wait()
            appointment_book(
                actor=desk,
                patient=patient,
                location=location,
                kind="infusion",
                starts_at=starts_at,
                chair=chair,
            )
            result = "booked"
        except BookingConflict:
            result = "conflict"
        except Exception as exc:  # noqa: BLE001 - reported in the assertion below
            result = repr(exc)
        finally:
            connections.close_all()  # each thread had its own connection
        with lock:
            outcomes.append(result)

    threads = [
        threading.Thread(target=attempt, args=(p, c)) for p, c in zip(patients, chairs, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@POSTGRESQL_ONLY
@pytest.mark.django_db(transaction=True)
def test_50_concurrent_bookings_of_one_chair_and_time_create_exactly_one(location):
    chair = staffed_location(location, chairs=1, nurses=ATTEMPTS)[0]
    desk = make_user("front_desk", location)
    patients = [PatientFactory(home_location=location) for _ in range(ATTEMPTS)]
    when = local(location, future_day(), 10)
    outcomes = _race(desk, location, patients, when, [chair] * ATTEMPTS)
    assert sorted(set(outcomes)) == ["booked", "conflict"], outcomes
    assert outcomes.count("booked") == 1
    assert Appointment.objects.filter(chair=chair).count() == 1


@POSTGRESQL_ONLY
@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_on_free_chairs_never_exceed_the_nurse_ratio(location, settings):
    # No exclusion constraint covers the ratio: the location row lock has to serialise them.
    settings.SCHEDULING_CHAIRS_PER_NURSE = 2
    chairs = staffed_location(location, chairs=20, nurses=1)
    desk = make_user("front_desk", location)
    patients = [PatientFactory(home_location=location) for _ in range(20)]
    outcomes = _race(desk, location, patients, local(location, future_day(), 10), chairs)
    assert outcomes.count("booked") == 2, outcomes
    assert Appointment.objects.count() == 2
