import pytest

from infusionclinic.common.dbrouter import ReplicaRouter


@pytest.fixture
def real_replica_routing() -> None:
    """Requested by the test that checks the replica end to end; see the autouse fixture."""


@pytest.fixture(autouse=True)
def _figures_on_the_test_database(request: pytest.FixtureRequest, monkeypatch) -> None:  # noqa: ANN001
    # With DATABASE_REPLICA_URL set, the suite's replica alias is a mirror that does not see a
    # test's uncommitted rows; the figure tests read the primary, the routing test reads the
    # replica (with committed rows).
    if "real_replica_routing" not in request.fixturenames:
        monkeypatch.setattr(ReplicaRouter, "_has_replica", lambda self: False)
