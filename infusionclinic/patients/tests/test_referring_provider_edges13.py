"""Issue 21 point 1: a stored referring provider found by NPI (or by name and practice) but with
another name, practice or e-mail is never used silently. The caller is told (with the stored
record) and chooses: use the stored one, update it with what was typed (audited), or keep both."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.patients import services
from infusionclinic.patients.models import ReferringProvider
from tests.factories import PatientFactory, make_user

pytestmark = pytest.mark.django_db

NPI = "1234567893"
TYPED = {
    "name": "Dr. Adaeze Okafor",
    "practice": "Charles River Psychiatry",
    "email": "aokafor@example.com",
    "npi": NPI,
}


@pytest.fixture
def stored(location):
    provider = ReferringProvider.objects.create(
        name="Dr. Helen Cho", practice="Back Bay Psychiatry", email="hcho@example.com", npi=NPI
    )
    PatientFactory(home_location=location, referring_provider=provider)
    return provider


@pytest.fixture
def front_desk(location):
    return make_user("front_desk", location)


def test_an_npi_match_with_another_name_raises_a_conflict_naming_the_stored_provider(
    stored, front_desk
):
    with pytest.raises(services.ReferringProviderConflict) as exc:
        services.referring_provider_get_or_create(**TYPED, actor=front_desk)
    conflict = exc.value
    assert [m.provider for m in conflict.matches] == [stored]
    assert conflict.matches[0].differences == ("name", "practice", "email")
    assert conflict.matches[0].patient_count == 1
    assert conflict.typed["name"] == "Dr. Adaeze Okafor"
    # Still a ValidationError on the NPI field, so the API answers 422 with the reason.
    assert "Dr. Helen Cho" in " ".join(conflict.message_dict["referring_provider_npi"])
    assert ReferringProvider.objects.count() == 1


def test_an_npi_match_with_only_another_email_is_a_conflict_too(stored, front_desk):
    with pytest.raises(services.ReferringProviderConflict) as exc:
        services.referring_provider_get_or_create(
            name="Dr. Helen Cho",
            practice="Back Bay Psychiatry",
            email="helen.cho@example.org",
            npi=NPI,
            actor=front_desk,
        )
    assert exc.value.matches[0].differences == ("email",)


def test_an_exact_npi_match_proceeds_without_asking(stored, front_desk):
    """Case, spacing and a blank field typed do not count as a difference."""
    found = services.referring_provider_get_or_create(
        name="dr. helen  CHO", practice="", email="HCHO@example.com", npi=NPI, actor=front_desk
    )
    assert found == stored


def test_a_name_and_practice_match_with_another_email_is_a_conflict_too(front_desk):
    ReferringProvider.objects.create(name="Dr. Lee", practice="Eastside", email="lee@old.example")
    with pytest.raises(services.ReferringProviderConflict):
        services.referring_provider_get_or_create(
            name="Dr. Lee", practice="Eastside", email="lee@new.example", actor=front_desk
        )


def test_choice_use_the_stored_one_returns_it_unchanged(stored, front_desk):
    found = services.referring_provider_get_or_create(
        **TYPED, actor=front_desk, on_conflict=f"use:{stored.pk}"
    )
    assert found == stored
    stored.refresh_from_db()
    assert (stored.name, stored.email) == ("Dr. Helen Cho", "hcho@example.com")


def test_choice_update_the_stored_one_changes_it_and_audits_the_previous_values(stored, front_desk):
    found = services.referring_provider_get_or_create(
        **TYPED, phone="555-0199", actor=front_desk, on_conflict=f"update:{stored.pk}"
    )
    assert found.pk == stored.pk
    stored.refresh_from_db()
    assert (stored.name, stored.practice, stored.email, stored.phone) == (
        "Dr. Adaeze Okafor",
        "Charles River Psychiatry",
        "aokafor@example.com",
        "555-0199",
    )
    event = AuditEvent.objects.get(action=AuditAction.UPDATE, object_type__iendswith="provider")
    assert event.actor == front_desk
    assert event.detail["fields"] == ["email", "name", "phone", "practice"]
    assert event.detail["previous"]["name"] == "Dr. Helen Cho"
    assert event.detail["previous"]["email"] == "hcho@example.com"
    assert event.detail["patients"] == 1


def test_choice_keep_both_creates_a_separate_record_with_the_same_npi(stored, front_desk):
    found = services.referring_provider_get_or_create(**TYPED, actor=front_desk, on_conflict="new")
    assert found.pk != stored.pk
    assert (found.name, found.email, found.npi) == ("Dr. Adaeze Okafor", "aokafor@example.com", NPI)
    stored.refresh_from_db()
    assert stored.name == "Dr. Helen Cho"
    event = AuditEvent.objects.get(action=AuditAction.CREATE, object_id=str(found.pk))
    assert event.detail["kept_beside"] == [stored.pk]
    # Next time the same typing finds the record kept, without asking again.
    assert services.referring_provider_get_or_create(**TYPED, actor=front_desk) == found


def test_a_choice_naming_a_provider_that_does_not_match_is_asked_again(stored, front_desk):
    other = ReferringProvider.objects.create(name="Dr. Other", npi="1987654328")
    with pytest.raises(services.ReferringProviderConflict):
        services.referring_provider_get_or_create(
            **TYPED, actor=front_desk, on_conflict=f"use:{other.pk}"
        )


def test_updating_or_keeping_both_needs_a_role_that_records_referrals(stored, location):
    for choice in (f"update:{stored.pk}", "new"):
        with pytest.raises(PermissionDenied):
            services.referring_provider_get_or_create(**TYPED, actor=None, on_conflict=choice)
        with pytest.raises(PermissionDenied):
            services.referring_provider_get_or_create(
                **TYPED, actor=make_user("patient", patient=PatientFactory()), on_conflict=choice
            )
    stored.refresh_from_db()
    assert stored.name == "Dr. Helen Cho"
    assert ReferringProvider.objects.count() == 1
