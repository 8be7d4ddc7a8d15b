"""`manage.py seed_demo` (issue 2 §7): one clinic, two locations, one user per role, about 30
patients with varied diagnoses and referring providers; idempotent; refused outside demo mode; and
the audit chain it leaves behind verifies."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase, override_settings

from infusionclinic.accounts.models import Clinic, Location, User
from infusionclinic.accounts.roles import STAFF_ROLES, Role
from infusionclinic.audit.models import AuditEvent
from infusionclinic.demo import data
from infusionclinic.patients.icd10 import icd10_table
from infusionclinic.patients.models import (
    Allergy,
    BodyMeasurement,
    Diagnosis,
    Medication,
    Patient,
    ReferringProvider,
)
from infusionclinic.patients.services import npi_is_valid

MODELS = [
    Clinic,
    Location,
    User,
    Patient,
    BodyMeasurement,
    Allergy,
    Medication,
    Diagnosis,
    ReferringProvider,
    AuditEvent,
]


def _seed() -> str:
    out = StringIO()
    with override_settings(DEMO_MODE=True):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


class SeededDemoTests(TestCase):
    """seed_demo runs once for the class (setUpTestData); each test sees its result."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.output = _seed()

    def test_seeds_one_clinic_with_two_locations(self) -> None:
        assert Clinic.objects.count() == 1
        locations = list(Location.objects.all())
        assert len(locations) == 2
        assert {loc.clinic_id for loc in locations} == {Clinic.objects.get().pk}
        assert all(Patient.objects.filter(home_location=loc).exists() for loc in locations)

    def test_seeds_one_user_per_role_who_can_log_in(self) -> None:
        # Issue 21 point 1: the patients who signed their consent have portal accounts too,
        # without a password (set through the reset link); one log-in per role has the demo's.
        users = [u for u in User.objects.all() if u.has_usable_password()]
        # Every role; several nurses for the visits' history (demo/visits.py).
        assert {u.role for u in users} == set(Role.values)
        for user in users:
            assert user.check_password(data.DEMO_PASSWORD), user.email
            if user.role in STAFF_ROLES:
                assert user.locations.exists(), user.email
        patient_user = User.objects.get(email=data.PATIENT_USER["email"])
        assert Patient.objects.get(user=patient_user)
        others = User.objects.filter(role=Role.PATIENT).exclude(pk=patient_user.pk)
        assert others.exists()
        assert not any(u.has_usable_password() for u in others)
        assert all(Patient.objects.filter(user=u).exists() for u in others)

    def test_seeds_about_thirty_patients_with_full_charts(self) -> None:
        patients = list(Patient.objects.all())
        assert 25 <= len(patients) <= 35
        assert len({p.mrn for p in patients}) == len(patients)
        for patient in patients:
            assert patient.referring_provider_id is not None, patient
            assert BodyMeasurement.objects.filter(patient=patient, kind="weight").exists(), patient
            assert Diagnosis.objects.filter(patient=patient, is_primary=True).count() == 1, patient

    def test_demo_diagnoses_are_varied_billable_codes(self) -> None:
        table = icd10_table()
        diagnoses = list(Diagnosis.objects.all())
        assert all(table[d.code].billable for d in diagnoses)  # CODE-DX-R1
        primaries = {d.code for d in diagnoses if d.is_primary}
        assert len(primaries) >= 5
        # Depression, PTSD and CRPS are all represented (codes.md CODE-DX3, DX6, DX10-13).
        assert {code[:3] for code in primaries} >= {"F33", "F43", "G90"}

    def test_demo_referring_providers_are_varied_with_valid_npis(self) -> None:
        providers = list(ReferringProvider.objects.all())
        assert len(providers) >= 3
        assert all(npi_is_valid(p.npi) for p in providers if p.npi)
        used = set(Patient.objects.values_list("referring_provider", flat=True))
        assert len(used) >= 3

    def test_prints_the_demo_log_ins(self) -> None:
        assert data.DEMO_PASSWORD in self.output
        for user in User.objects.all():
            if user.has_usable_password():  # not the patients' portal accounts (issue 21 pt 1)
                assert user.email in self.output

    def test_every_seeded_write_is_audited_and_the_chain_verifies(self) -> None:
        created = AuditEvent.objects.filter(action="create")
        assert created.filter(object_type="patients.Patient").count() == Patient.objects.count()
        assert created.filter(object_type="patients.Diagnosis").count() == Diagnosis.objects.count()
        assert set(AuditEvent.objects.values_list("channel", flat=True)) == {"cli"}
        out = StringIO()
        call_command("verify_audit", stdout=out)
        verified = f"Audit chain intact: {AuditEvent.objects.count()} events verified."
        assert verified in out.getvalue()

    def test_running_it_again_creates_nothing_new(self) -> None:
        first = _counts()
        mrns = set(Patient.objects.values_list("mrn", flat=True))
        again = _seed()
        assert _counts() == first
        assert set(Patient.objects.values_list("mrn", flat=True)) == mrns
        assert "0 new patients" in again
        call_command("verify_audit", stdout=StringIO())


@pytest.mark.django_db
def test_refuses_without_demo_mode():
    with override_settings(DEMO_MODE=False), pytest.raises(CommandError, match="DEMO_MODE"):
        call_command("seed_demo", stdout=StringIO())
    assert set(_counts().values()) == {0}
