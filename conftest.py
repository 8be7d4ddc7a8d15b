import importlib

import pytest

from tests.factories import LocationFactory
from tests.smtp import smtp_inbox_running


@pytest.fixture
def location(db):
    return LocationFactory(code="north", name="North", timezone="America/New_York")


@pytest.fixture
def other_location(db):
    return LocationFactory(code="south", name="South", timezone="America/Denver")


@pytest.fixture
def smtp_inbox():
    """A real SMTP server (aiosmtpd) for this test; `with smtp_inbox.settings():` sends to it."""
    yield from smtp_inbox_running()


def _is_transactional(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return True
    return bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def _reference_data_after_flush(request: pytest.FixtureRequest) -> None:
    """Transactional tests (live server, browser, worker) end by flushing the database, which
    also empties the reference rows the data migrations wrote (instrument definitions, default
    protocols, public pages, consent documents). pytest-django runs those tests last, so only
    they can see a flushed database: put that data back before each of them, as the migrations
    do."""
    if not _is_transactional(request):
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps as django_apps

    from infusionclinic.courses.services import protocol_defaults_ensure
    from infusionclinic.outcomes.instruments import instruments_sync
    from infusionclinic.outcomes.models import InstrumentDefinition
    from infusionclinic.website.models import Page, PageVersion
    from infusionclinic.website.pages import seed_pages

    instruments_sync(InstrumentDefinition)
    protocol_defaults_ensure()
    seed_pages(Page, PageVersion)
    consent_migration = importlib.import_module(
        "infusionclinic.intake.migrations.0002_consent_documents_v1"
    )
    consent_migration.publish(django_apps, None)
