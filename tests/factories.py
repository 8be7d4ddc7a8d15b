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

from infusionclinic.accounts.models import ApiToken, Clinic, Location, User
from infusionclinic.accounts.roles import STAFF_ROLES
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
    # ApiToken.issue, not the audited api_token_create: a test's audit snapshot taken before it
    # builds its client must not count the token's `grant` event.
    _token, raw = ApiToken.issue(user=user, days=1)
    return Client(headers={"Authorization": f"Bearer {raw}"})


# --- The controlled-substance log of an infusion session (issue 21 point 6) -------------------

TEST_DEA = "AB1234563"  # a valid check digit: (1 + 3 + 5) + 2 × (2 + 4 + 6) = 33 → 3
SESSION_LOT = "TEST-SESSION"


def dea_registration(location: Location, *, recorded_by: User | None = None):  # noqa: ANN201
    """§4 `Registration` (CS-4): a current DEA registration for `location`, written directly."""
    from datetime import timedelta

    from django.utils import timezone

    from infusionclinic.controlled.compliance import registration_status
    from infusionclinic.controlled.models import Registration

    if registration_status(location=location).state in ("current", "expiring"):
        return registration_status(location=location).registration
    return Registration.objects.create(
        location=location,
        registrant_name=f"{location.name} Infusion Clinic",
        dea_number=TEST_DEA,
        address="1 Main Street",
        expires_on=timezone.localdate() + timedelta(days=730),
        recorded_by=recorded_by or make_user("admin", location),
    )


def session_lot(actor: User, location: Location):  # noqa: ANN201
    """A lot of 50 mg/mL × 10 mL vials (§8) with stock on hand at `location`."""
    from datetime import timedelta

    from django.utils import timezone

    from infusionclinic.controlled import services as cs
    from infusionclinic.controlled.models import Lot

    lot = Lot.objects.filter(location=location, lot_number=SESSION_LOT).first()
    if lot is not None and cs.balance_ml(lot) >= Decimal(5):
        return lot
    product = cs.product_get_or_create(
        ndc="42023-113-10",
        name="Ketamine HCl injection",
        strength_mg_per_ml=Decimal(50),
        container_ml=Decimal(10),
    )
    return cs.receipt_record(
        actor=actor,
        location=location,
        product=product,
        lot_number=SESSION_LOT,
        expiry=timezone.localdate() + timedelta(days=365),
        containers=5,
        supplier="Example Wholesale",
        invoice_number="INV-SESSION",
        storage="Cabinet A",
    ).lot


def facility_checked(location: Location):  # noqa: ANN201
    """protocol.md PRE-7: today's facility check at `location`, naming one of its prescribers
    (made if none) for both the airway and the ACLS role."""
    from infusionclinic.infusions.facility import facility_check_record, facility_check_today

    existing = facility_check_today(location=location)
    if existing:
        return existing
    prescriber = location.staff.filter(role="prescriber", is_active=True).first() or make_user(
        "prescriber", location
    )
    return facility_check_record(
        actor=prescriber,
        location=location,
        airway_prescriber=prescriber,
        acls_clinician=prescriber,
        airway_equipment_checked=True,
        resuscitation_drugs_checked=True,
    )


def session_ready_to_start(
    actor: User, session, *, qty_ml: str | None = None, facility: bool = True
):  # noqa: ANN001, ANN201
    """Issue 21 point 6: what "Start infusion" needs from the controlled-substance log: the
    location's current DEA registration (CS-4) and a draw for this session (CS-31, CS-42) — and
    the day's PRE-7 facility check —, by
    default the order's dose from a 50 mg/mL lot. The session must be checked in (an open
    encounter). Returns the draw."""
    from decimal import ROUND_UP

    from infusionclinic.controlled import services as cs

    dea_registration(session.location)
    if facility:
        facility_checked(session.location)
    lot = session_lot(actor, session.location)
    if qty_ml is None:
        dose = Decimal(str(session.order.dose_mg)) / lot.product.strength_mg_per_ml
        qty_ml = str(dose.quantize(Decimal("0.01"), rounding=ROUND_UP))
    return cs.draw_record(actor=actor, lot=lot, order=session.order, qty_ml=qty_ml, session=session)


def session_cs_closed(actor: User, session, *, witness: User | None = None) -> None:  # noqa: ANN001
    """After the stop: each of the session's draws administered as the pump gave it (CS-32) and
    the rest wasted with a witness who re-authenticates (CS-33, CS-44), so the log matches."""
    from infusionclinic.controlled import services as cs
    from infusionclinic.infusions.dose import session_dose_check

    session.refresh_from_db()
    check = session_dose_check(session)
    for line in check.lines:
        suggestion = check.suggestion(line)
        if suggestion.qty_ml > 0:
            cs.administration_record(actor=actor, draw=line.draw, qty_ml=suggestion.qty_ml)
            check = session_dose_check(session)
    for line in check.lines:
        if line.open_ml > 0:
            witness = witness or make_user("prescriber", session.location)
            cs.waste_record(
                actor=actor,
                draw=line.draw,
                qty_ml=line.open_ml,
                reason="Left in the bag and line; discarded into the waste container.",
                witness_email=witness.email,
                witness_secret=PASSWORD,
            )
