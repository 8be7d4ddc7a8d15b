import pytest

from infusionclinic.scheduling import services


@pytest.fixture(autouse=True)
def _intake_cleared(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scheduling's own rules are tested on patients whom intake has cleared: the intake gate
    (issue 4) is answered "yes" here, except in tests marked `intake_gate`, which run the real
    gate (its own rules are pinned in infusionclinic/intake/tests)."""
    if request.node.get_closest_marker("intake_gate") is None:
        monkeypatch.setattr(services, "patient_may_be_booked", lambda *, patient: (True, []))
