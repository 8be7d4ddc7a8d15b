from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import PatientFactory, add_weight, make_user


@pytest.fixture
def patient(location):
    p = PatientFactory(home_location=location)
    add_weight(p, "80.0", timezone.localdate() - timedelta(days=2))
    return p


@pytest.fixture
def prescriber(location):
    return make_user("prescriber", location)


@pytest.fixture
def nurse(location):
    return make_user("nurse", location)


@pytest.fixture(autouse=True)
def _default_protocols(db):
    """Seeded by a data migration; a transactional test's flush (the browser tests) removes
    them, so restore them for whatever runs next."""
    from infusionclinic.courses.services import protocol_defaults_ensure

    protocol_defaults_ensure()
