"""CS-41 under concurrent draws: the lot row lock serialises writers, so ten nurses drawing at
once from one lot never take more than is on hand and every refusal is a clean ValidationError."""

import threading
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from infusionclinic.controlled import services

from .factories import receive

ATTEMPTS = 10

POSTGRESQL_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises all writers; row locks are a PostgreSQL property.",
)


@POSTGRESQL_ONLY
@pytest.mark.django_db(transaction=True)
def test_cs41_concurrent_draws_never_overdraw_a_lot(nurse, location, ketamine, order):
    lot = receive(nurse, location, ketamine).lot  # 10.00 mL
    barrier = threading.Barrier(ATTEMPTS)
    outcomes: list[str] = []
    guard = threading.Lock()

    def attempt():
        try:
            barrier.wait()
            services.draw_record(actor=nurse, lot=lot, order=order, qty_ml="3.00")
            result = "drawn"
        except ValidationError:
            result = "refused"
        except Exception as exc:  # noqa: BLE001 - reported in the assertion below
            result = repr(exc)
        finally:
            connections.close_all()
        with guard:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(outcomes)) == ["drawn", "refused"], outcomes
    assert outcomes.count("drawn") == 3
    assert services.balance_ml(lot) == D("1.00")
    assert list(lot.entries.values_list("seq", flat=True)) == [1, 2, 3, 4]
