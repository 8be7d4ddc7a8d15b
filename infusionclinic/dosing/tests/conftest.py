from datetime import timedelta

import pytest
from django.utils import timezone

from infusionclinic.intake.tests.factories import bookable_patient
from infusionclinic.patients.services import diagnosis_add
from tests.factories import PatientFactory, add_weight, make_user


@pytest.fixture
def patient(location):
    """A patient intake lets through (dosing orders are signed only for them: issue 4 gate)."""
    p = PatientFactory(home_location=location)
    add_weight(p, "80.0", timezone.localdate() - timedelta(days=2))
    make_user("patient", patient=p)
    staff = make_user("prescriber", location)
    # PTSD: an accepted indication (PROT-1) without the depression-only rule PROT-5.
    diagnosis_add(actor=staff, patient=p, code="F43.10", is_primary=True)
    return bookable_patient(p, staff=staff)


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
