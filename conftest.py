import pytest

from tests.factories import LocationFactory


@pytest.fixture
def location(db):
    return LocationFactory(code="north", name="North", timezone="America/New_York")


@pytest.fixture
def other_location(db):
    return LocationFactory(code="south", name="South", timezone="America/Denver")
