from __future__ import annotations

import pytest

from infusionclinic.messaging import services
from tests.factories import PatientFactory, make_user

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


@pytest.fixture
def patient_user(patient):
    return make_user("patient", patient=patient)


@pytest.fixture
def other_patient_user(location):
    other = PatientFactory(home_location=location)
    return make_user("patient", patient=other)


@pytest.fixture
def nurse(location):
    return make_user("nurse", location)


@pytest.fixture
def prescriber(location):
    return make_user("prescriber", location)


@pytest.fixture
def front_desk(location):
    return make_user("front_desk", location)


@pytest.fixture
def admin_user(location):
    return make_user("admin", location)


@pytest.fixture
def other_nurse(other_location):
    return make_user("nurse", other_location)


@pytest.fixture
def clinical_thread(patient_user):
    return services.thread_create(
        actor=patient_user, category="clinical", subject="A question", body="Is it normal?"
    ).thread


@pytest.fixture
def admin_thread(patient_user):
    return services.thread_create(
        actor=patient_user, category="administrative", subject="My bill", body="Receipt please"
    ).thread
