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
