"""CS-41 and the ledger's arithmetic over random event sequences (hypothesis): whatever staff try,
the balance of a lot never goes below zero, always equals the sum of its entries' changes (and
each entry's `balance_after_ml` is the running sum), no dose gives out more than was drawn (CS-43),
mg = mL × strength (CS-48), and a refused event writes nothing."""

import itertools
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infusionclinic.controlled import compliance, services
from infusionclinic.controlled.models import EntryKind, LedgerEntry
from tests.factories import PASSWORD, make_user

from .factories import receive

pytestmark = pytest.mark.django_db

_lots = itertools.count(1)


@pytest.fixture
def second_nurse(location):
    return make_user("nurse", location)


ML = st.decimals(min_value=D("0.01"), max_value=D("25"), places=2)
EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("receive"), st.integers(min_value=1, max_value=2)),
        st.tuples(st.just("draw"), ML),
        st.tuples(st.just("administer"), ML),
        st.tuples(st.just("waste"), ML),
        st.tuples(st.sampled_from(["loss", "return", "destruction"]), ML),
        st.tuples(
            st.just("adjust"),
            st.decimals(min_value=D("-25"), max_value=D("25"), places=2).filter(bool),
        ),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=EVENTS)
def test_cs41_balance_never_negative_and_equals_the_sum_of_entries(
    events, nurse, prescriber, second_nurse, location, ketamine, order
):
    first = receive(nurse, location, ketamine, lot_number=f"H{next(_lots)}")
    lot = first.lot
    expected = first.qty_ml  # a model of the balance, to predict which events are refused
    doses: list[tuple[LedgerEntry, D]] = []  # (draw, mL still to account for)
    witness = {"witness_email": prescriber.email, "witness_secret": "Correct-horse-battery-9"}

    for kind, value in events:
        before = lot.entries.count()
        accept: bool
        try:
            if kind == "receive":
                accept = True
                receive(nurse, location, ketamine, containers=value, lot_number=lot.lot_number)
                expected += ketamine.container_ml * value
            elif kind == "draw":
                accept = value <= expected
                draw = services.draw_record(actor=nurse, lot=lot, order=order, qty_ml=value)
                doses.append((draw, value))
                expected -= value
            elif kind in ("administer", "waste"):
                if not doses:
                    continue
                draw, remaining = doses[-1]
                accept = value <= remaining
                if kind == "administer":
                    services.administration_record(actor=nurse, draw=draw, qty_ml=value)
                else:
                    services.waste_record(
                        actor=nurse, draw=draw, qty_ml=value, reason="remainder", **witness
                    )
                doses[-1] = (draw, remaining - value)
            elif kind == "adjust":
                accept = expected + value >= 0
                services.adjustment_record(
                    actor=nurse, corrects=first, delta_ml=value, reason="correction", **witness
                )
                expected += value
            else:
                accept = value <= expected
                if kind == "loss":  # CS-38: opens a LossReport
                    services.stock_out_record(
                        actor=nurse, lot=lot, kind=kind, qty_ml=value, reason="test"
                    )
                elif kind == "return":  # CS-37: to a reverse distributor
                    compliance.reverse_distributor_return_record(
                        actor=nurse,
                        location=location,
                        lines=[(lot, value)],
                        distributor_name="Example Returns",
                        distributor_address="1 Dock St",
                        distributor_dea="AB1234563",
                    )
                else:  # CS-17: Form 41 with two witnesses
                    compliance.destruction_record(
                        actor=nurse,
                        location=location,
                        lines=[(lot, value)],
                        method="chemical denaturing kit",
                        place="med room",
                        witness_1_email=prescriber.email,
                        witness_1_secret=PASSWORD,
                        witness_2_email=second_nurse.email,
                        witness_2_secret=PASSWORD,
                    )
                expected -= value
        except ValidationError:
            assert not accept, (kind, value)
            assert lot.entries.count() == before  # a refused event writes nothing
        else:
            assert accept, (kind, value)
            assert lot.entries.count() == before + 1

        balance = services.balance_ml(lot)
        assert balance >= 0
        assert balance == expected
        assert balance == sum(lot.entries.values_list("delta_ml", flat=True), D(0))

    running = D(0)
    for entry in lot.entries.order_by("seq"):
        running += entry.delta_ml
        assert entry.balance_after_ml == running
        assert entry.qty_mg == entry.qty_ml * entry.concentration_mg_per_ml
    assert list(lot.entries.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, lot.entries.count() + 1)
    )
    for draw, remaining in doses:
        assert services.dose_remaining_ml(draw) == remaining >= 0
    assert not lot.entries.filter(kind=EntryKind.DRAW, patient__isnull=True).exists()
