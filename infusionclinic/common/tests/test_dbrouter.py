"""The read-replica router (issue 13 item 4): lag-tolerant reads go to `replica` when one is
configured; writes and every other read go to `default`."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.db import OperationalError

from infusionclinic.common.dbrouter import (
    ReplicaRouter,
    lag_tolerant_reads,
    own_writes_visible,
    read_lag_tolerant,
    replica_available,
)
from infusionclinic.patients.models import Patient
from tests.replica import unreachable_replica

WITH_REPLICA = {"default": {}, "replica": {}}
WITHOUT = {"default": {}}


def test_router_is_installed():
    assert "infusionclinic.common.dbrouter.ReplicaRouter" in settings.DATABASE_ROUTERS


def test_ordinary_reads_and_all_writes_stay_on_default():
    router = ReplicaRouter(WITH_REPLICA)
    assert router.db_for_read(Patient) == "default"
    assert router.db_for_write(Patient) == "default"
    with lag_tolerant_reads():
        assert router.db_for_write(Patient) == "default"


def test_lag_tolerant_reads_go_to_the_replica_only_when_there_is_one():
    with lag_tolerant_reads():
        assert ReplicaRouter(WITH_REPLICA).db_for_read(Patient) == "replica"
        assert ReplicaRouter(WITHOUT).db_for_read(Patient) == "default"
    assert ReplicaRouter(WITH_REPLICA).db_for_read(Patient) == "default"  # block left


def test_nested_blocks_restore_the_outer_state():
    router = ReplicaRouter(WITH_REPLICA)
    with lag_tolerant_reads():
        with lag_tolerant_reads():
            pass
        assert router.db_for_read(Patient) == "replica"
    assert router.db_for_read(Patient) == "default"


def test_migrations_never_run_on_the_replica():
    router = ReplicaRouter(WITH_REPLICA)
    assert router.allow_migrate("replica", "patients") is False
    assert router.allow_migrate("default", "patients") is True


def test_rows_from_primary_and_replica_may_be_related():
    a, b = Patient(), Patient()
    a._state.db, b._state.db = "default", "replica"
    assert ReplicaRouter(WITH_REPLICA).allow_relation(a, b) is True


# --- issue 20 section 1: replica down, read-your-writes ---------------------------------------


def test_a_replica_that_does_not_answer_sends_the_block_to_the_primary_issue_20_point_1():
    probes: list[bool] = []

    def down() -> bool:
        probes.append(False)
        return False

    router = ReplicaRouter(WITH_REPLICA, probe=down)
    with lag_tolerant_reads():
        assert router.db_for_read(Patient) == "default"
        assert router.db_for_read(Patient) == "default"
    assert probes == [False]  # probed once per block, not once per query


def test_reads_after_the_users_own_write_stay_on_the_primary_issue_20_point_1():
    router = ReplicaRouter(WITH_REPLICA)
    with own_writes_visible(), lag_tolerant_reads():
        assert router.db_for_read(Patient) == "default"
    with lag_tolerant_reads():
        assert router.db_for_read(Patient) == "replica"


@pytest.mark.skipif("replica" in settings.DATABASES, reason="the suite runs with a real replica")
@pytest.mark.django_db
def test_replica_on_a_closed_port_is_reported_and_avoided_issue_20_point_1(caplog):
    with unreachable_replica():
        with caplog.at_level(logging.WARNING, logger="infusionclinic.common.dbrouter"):
            assert replica_available() is False
        assert "Read replica unavailable" in caplog.text
        assert "primary for 30 s" in caplog.text
        caplog.clear()
        # Within REPLICA_RETRY_SECONDS it is not tried again (no second connect, no second log).
        assert replica_available() is False
        assert caplog.text == ""


@pytest.mark.skipif("replica" in settings.DATABASES, reason="a real replica's connection answers")
def test_a_replica_that_fails_mid_block_is_read_again_on_the_primary_issue_20_point_2(caplog):
    # The fault run's one 500: an analytics page whose replica restarted under its query.
    router = ReplicaRouter(WITH_REPLICA)
    routes: list[str | None] = []

    def read() -> str:
        routes.append(router.db_for_read(Patient))
        if len(routes) == 1:
            raise OperationalError("terminating connection due to administrator command")
        return "figures"

    with caplog.at_level(logging.WARNING, logger="infusionclinic.common.dbrouter"):
        assert read_lag_tolerant(read) == "figures"
    assert routes == ["replica", "default"]
    assert "read again on the primary" in caplog.text


def test_a_primary_error_in_a_lag_tolerant_read_is_not_retried():
    calls: list[str | None] = []

    def read() -> str:
        calls.append(ReplicaRouter(WITHOUT).db_for_read(Patient))
        raise OperationalError("primary down")

    with pytest.raises(OperationalError):
        read_lag_tolerant(read)
    assert calls == ["default"]  # no replica was used: the error is the primary's, raised once
