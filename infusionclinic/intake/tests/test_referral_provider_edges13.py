"""Issue 21 point 1 on the pages: `/referrals/new/` and the patient registration form, given an
NPI on file for another provider, re-render with the stored record beside what was typed and
three choices; each choice does what it says; an exact match records the referral at once."""

from __future__ import annotations

import pytest

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.intake.models import Referral
from infusionclinic.patients.models import Patient, ReferringProvider
from tests.factories import PatientFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db

NPI = "1234567893"


@pytest.fixture
def stored(location):
    provider = ReferringProvider.objects.create(
        name="Dr. Helen Cho", practice="Back Bay Psychiatry", email="hcho@example.com", npi=NPI
    )
    PatientFactory(home_location=location, referring_provider=provider)
    return provider


@pytest.fixture
def client(location):
    return logged_in_client(make_user("front_desk", location))


def _referral(location, **overrides):
    data = {
        "source": "provider",
        "location": location.code,
        "given_name": "Rosa",
        "family_name": "Marquez",
        "birth_date": "1975-03-02",
        "sex_at_birth": "female",
        "diagnosis_codes": "F33.2",
        "referring_provider_name": "Dr. Adaeze Okafor",
        "referring_provider_practice": "Charles River Psychiatry",
        "referring_provider_email": "aokafor@example.com",
        "referring_provider_npi": NPI,
    }
    data.update(overrides)
    return data


def test_referral_with_an_npi_on_file_for_another_provider_shows_it_and_the_three_choices(
    location, stored, client
):
    response = client.post("/referrals/new/", _referral(location))
    assert response.status_code == 409
    page = response.content.decode()
    assert f"NPI {NPI} is on file for another provider" in page
    assert "Dr. Helen Cho" in page
    assert "Back Bay Psychiatry" in page
    assert "hcho@example.com" in page
    assert f'value="use:{stored.pk}"' in page
    assert f'value="update:{stored.pk}"' in page
    assert 'value="new"' in page
    # What was typed is kept in the form for the second submit.
    assert 'value="Dr. Adaeze Okafor"' in page
    assert not Referral.objects.exists()
    assert ReferringProvider.objects.count() == 1


def test_referral_choice_use_the_stored_provider(location, stored, client):
    response = client.post(
        "/referrals/new/", _referral(location, referring_provider_choice=f"use:{stored.pk}")
    )
    assert response.status_code == 302
    assert Referral.objects.get().referring_provider == stored
    stored.refresh_from_db()
    assert stored.email == "hcho@example.com"


def test_referral_choice_update_the_stored_provider_is_audited(location, stored, client):
    response = client.post(
        "/referrals/new/", _referral(location, referring_provider_choice=f"update:{stored.pk}")
    )
    assert response.status_code == 302
    assert Referral.objects.get().referring_provider == stored
    stored.refresh_from_db()
    assert (stored.name, stored.practice, stored.email) == (
        "Dr. Adaeze Okafor",
        "Charles River Psychiatry",
        "aokafor@example.com",
    )
    event = AuditEvent.objects.get(action=AuditAction.UPDATE, object_id=str(stored.pk))
    assert event.detail["previous"]["name"] == "Dr. Helen Cho"


def test_referral_choice_keep_both_records_the_typed_provider_separately(location, stored, client):
    response = client.post("/referrals/new/", _referral(location, referring_provider_choice="new"))
    assert response.status_code == 302
    provider = Referral.objects.get().referring_provider
    assert provider != stored
    assert (provider.name, provider.email, provider.npi) == (
        "Dr. Adaeze Okafor",
        "aokafor@example.com",
        NPI,
    )
    stored.refresh_from_db()
    assert stored.name == "Dr. Helen Cho"


def test_referral_with_an_exact_npi_match_proceeds_without_asking(location, stored, client):
    response = client.post(
        "/referrals/new/",
        _referral(
            location,
            referring_provider_name="Dr. Helen Cho",
            referring_provider_practice="Back Bay Psychiatry",
            referring_provider_email="hcho@example.com",
        ),
    )
    assert response.status_code == 302
    assert Referral.objects.get().referring_provider == stored
    assert ReferringProvider.objects.count() == 1


def test_accepted_referral_names_the_typed_provider_so_the_report_goes_to_them(
    location, stored, client
):
    client.post("/referrals/new/", _referral(location, referring_provider_choice="new"))
    referral = Referral.objects.get()
    client.post(f"/referrals/{referral.pk}/accept/")
    patient = Patient.objects.get(family_name="Marquez")
    assert patient.referring_provider.email == "aokafor@example.com"


def test_registration_with_an_npi_on_file_for_another_provider_asks_too(location, stored, client):
    data = {
        "given_name": "Ada",
        "family_name": "Lovelace",
        "birth_date": "1985-12-10",
        "sex_at_birth": "female",
        "country": "US",
        "location": location.code,
        "weight_unit": "kg",
        "height_unit": "cm",
        "referring_provider_name": "Dr. Adaeze Okafor",
        "referring_provider_email": "aokafor@example.com",
        "referring_provider_npi": NPI,
    }
    response = client.post("/patients/new/", data)
    assert response.status_code == 409
    assert "Dr. Helen Cho" in response.content.decode()
    assert not Patient.objects.filter(family_name="Lovelace").exists()

    response = client.post("/patients/new/", {**data, "referring_provider_choice": "new"})
    assert response.status_code == 302
    patient = Patient.objects.get(family_name="Lovelace")
    assert patient.referring_provider.name == "Dr. Adaeze Okafor"
    assert patient.referring_provider != stored
