import pytest

from tests.factories import LocationFactory


@pytest.fixture
def location(db):
    return LocationFactory(code="north", name="North", timezone="America/New_York")


@pytest.fixture
def other_location(db):
    return LocationFactory(code="south", name="South", timezone="America/Denver")


def _is_transactional(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return True
    return bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def _reference_data_after_flush(request: pytest.FixtureRequest) -> None:
    """Transactional tests (live server, browser, worker) end by flushing the database, which
    also empties the reference rows the data migrations wrote (instrument definitions, default
    protocols, public pages). pytest-django runs those tests last, so only they can see a
    flushed database: put the reference data back before each of them, as the migrations do."""
    if not _is_transactional(request):
        return
    request.getfixturevalue("transactional_db")
    from infusionclinic.courses.services import protocol_defaults_ensure
    from infusionclinic.outcomes.instruments import instruments_sync
    from infusionclinic.outcomes.models import InstrumentDefinition
    from infusionclinic.website.models import Page, PageVersion
    from infusionclinic.website.pages import seed_pages

    instruments_sync(InstrumentDefinition)
    protocol_defaults_ensure()
    seed_pages(Page, PageVersion)
