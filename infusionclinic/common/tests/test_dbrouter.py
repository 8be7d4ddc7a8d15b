"""The read-replica router (issue 13 item 4): lag-tolerant reads go to `replica` when one is
configured; writes and every other read go to `default`."""

from __future__ import annotations

from django.conf import settings

from infusionclinic.common.dbrouter import ReplicaRouter, lag_tolerant_reads
from infusionclinic.patients.models import Patient

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
