"""Test data builders. They write rows directly (fast, no audit events) so that a test's own
audit assertions see only the events of the action under test."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import factory
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from infusionclinic.accounts.models import Clinic, Location, User
from infusionclinic.accounts.roles import STAFF_ROLES
from infusionclinic.accounts.services import api_token_create
from infusionclinic.patients.models import BodyMeasurement, Patient, fold_for_search
from infusionclinic.patients.services import _new_mrn

PASSWORD = "Correct-horse-battery-9"  # noqa: S105
_seq = itertools.count(1)


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    clinic = factory.SubFactory(ClinicFactory)
    code = factory.Sequence(lambda n: f"loc{n}")
    name = factory.Sequence(lambda n: f"Location {n}")
    timezone = "America/New_York"


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    mrn = factory.LazyFunction(_new_mrn)
    given_name = factory.Sequence(lambda n: f"Given{n}")
    family_name = factory.Sequence(lambda n: f"Family{n}")
    birth_date = date(1980, 5, 17)
    sex_at_birth = "female"
    email = factory.Sequence(lambda n: f"patient{n}@example.com")
    home_location = factory.SubFactory(LocationFactory)
    preferred_name = ""
    given_name_key = factory.LazyAttribute(lambda o: fold_for_search(o.given_name))
    family_name_key = factory.LazyAttribute(lambda o: fold_for_search(o.family_name))
    preferred_name_key = factory.LazyAttribute(lambda o: fold_for_search(o.preferred_name))


def make_user(role: str, *locations: Location, patient: Patient | None = None) -> User:
    user = User.objects.create_user(
        email=f"{role}{next(_seq)}@example.com",
        password=PASSWORD,
        role=role,
        is_staff=role == "admin",
        full_name=f"Test {role}",
    )
    if locations:
        user.locations.set(locations)
    if patient is not None:
        patient.user = user
        patient.save(update_fields=["user"])
    return user


def add_weight(patient: Patient, kg: str, measured_on: date) -> BodyMeasurement:
    return BodyMeasurement.objects.create(
        patient=patient,
        kind="weight",
        value_si=Decimal(kg),
        entered_value=Decimal(kg),
        entered_unit="kg",
        measured_on=measured_on,
    )


def logged_in_client(user: User) -> Client:
    """A browser session as this user, past two-factor log-in for staff."""
    client = Client()
    client.force_login(user)
    if user.role in STAFF_ROLES:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def api_client(user: User) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_token_create(user=user)}"})
