import pytest

from infusionclinic.dosing.tests.conftest import _default_protocols, patient  # noqa: F401
from tests.factories import make_user

from .factories import product, signed_order


@pytest.fixture
def nurse(location):
    return make_user("nurse", location)


@pytest.fixture
def prescriber(location):
    return make_user("prescriber", location)


@pytest.fixture
def admin_user(location):
    return make_user("admin", location)


@pytest.fixture
def order(patient, prescriber):  # noqa: F811
    return signed_order(patient, prescriber)


@pytest.fixture
def ketamine(db):
    return product()
