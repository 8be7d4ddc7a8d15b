"""No double-booking under concurrent requests (issue 8 "done when")."""

import threading

import pytest
from django.db import connection, connections

from infusionclinic.scheduling.models import Appointment
from infusionclinic.scheduling.services import BookingConflict, appointment_book
from tests.factories import PatientFactory, make_user

from .factories import future_day, local, staffed_location

ATTEMPTS = 50


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises all writers (IMMEDIATE transactions); concurrency is a PostgreSQL "
    "property. test_services shows sequential double-booking is refused on both.",
)
@pytest.mark.django_db(transaction=True)
def test_50_concurrent_bookings_of_one_chair_and_time_create_exactly_one(location):
    chair = staffed_location(location, chairs=1, nurses=ATTEMPTS)[0]
    desk = make_user("front_desk", location)
    patients = [PatientFactory(home_location=location) for _ in range(ATTEMPTS)]
    starts_at = local(location, future_day(), 10)
    barrier = threading.Barrier(ATTEMPTS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(patient):
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

    threads = [threading.Thread(target=attempt, args=(p,)) for p in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(outcomes)) == ["booked", "conflict"], outcomes
    assert outcomes.count("booked") == 1
    assert Appointment.objects.filter(chair=chair).count() == 1
