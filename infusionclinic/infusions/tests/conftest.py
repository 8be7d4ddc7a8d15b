from datetime import timedelta

import pytest
from django.utils import timezone

from infusionclinic.dosing import services as dosing_services
from infusionclinic.dosing.tests.factories import STANDARD
from infusionclinic.intake.tests.factories import bookable_patient
from infusionclinic.patients.services import diagnosis_add
from tests.factories import PASSWORD, PatientFactory, add_weight, make_user

from .factories import session_for


@pytest.fixture
def prescriber(location):
    return make_user("prescriber", location)


@pytest.fixture
def nurse(location):
    return make_user("nurse", location)


@pytest.fixture
def patient(location, prescriber):
    p = PatientFactory(home_location=location)
    add_weight(p, "80.0", timezone.localdate() - timedelta(days=2))
    make_user("patient", patient=p)
    diagnosis_add(actor=prescriber, patient=p, code="F43.10", is_primary=True)
    return bookable_patient(p, staff=prescriber)


@pytest.fixture
def order(prescriber, patient):
    draft = dosing_services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    return dosing_services.dosing_order_sign(actor=prescriber, order=draft, password=PASSWORD)


@pytest.fixture
def session(nurse, patient, order, location):
    return session_for(nurse, patient, order, location)


@pytest.fixture(autouse=True)
def _default_protocols(db):
    from infusionclinic.courses.services import protocol_defaults_ensure

    protocol_defaults_ensure()
