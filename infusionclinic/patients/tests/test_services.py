"""The rules of the patient chart's writes and reads (issue 2 §4): SI storage of what was typed,
MRNs, plausible ranges, optimistic concurrency, ICD-10-CM leaf codes, NPI check digits, search,
and an audit event for each write."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from infusionclinic.audit.models import AuditEvent
from infusionclinic.patients import services
from infusionclinic.patients.models import BodyMeasurement, Diagnosis, Patient
from infusionclinic.patients.selectors import patient_search
from tests.factories import LocationFactory, PatientFactory, make_user

pytestmark = pytest.mark.django_db


def _luhn_valid(digits: str) -> bool:
    """Independent Luhn check (not the production helper): doubling every second digit from the
    right, the digit sum is a multiple of 10."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 1 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _create(actor, location, **overrides):
    values = {
        "actor": actor,
        "location": location,
        "given_name": "Ada",
        "family_name": "Lovelace",
        "birth_date": date(1985, 12, 10),
        "sex_at_birth": "female",
        "email": "ada@example.com",
    }
    values.update(overrides)
    return services.patient_create(**values)


def _counts():
    return (Patient.objects.count(), BodyMeasurement.objects.count(), AuditEvent.objects.count())


def _refused(actor, location, **overrides) -> dict[str, list[str]]:
    """Create with bad input; assert nothing at all was written and return the field errors."""
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        _create(actor, location, **overrides)
    assert _counts() == before
    return exc.value.message_dict


@pytest.fixture
def front_desk(location):
    return make_user("front_desk", location)


def _freeze_now(monkeypatch, instant: datetime) -> None:
    monkeypatch.setattr(timezone, "now", lambda: instant)


# --- patient_create ---------------------------------------------------------------------------


def test_create_stores_weight_and_height_in_si_with_what_was_typed(front_desk, location):
    patient = _create(
        front_desk, location, weight="150", weight_unit="lb", height=70, height_unit="in"
    )
    weight = BodyMeasurement.objects.get(patient=patient, kind="weight")
    height = BodyMeasurement.objects.get(patient=patient, kind="height")
    assert weight.value_si == Decimal("68.0")  # DOSE-U1: 150 lb x 0.45359237
    assert weight.entered_value == Decimal("150")
    assert weight.entered_unit == "lb"
    assert height.value_si == Decimal("177.8")  # DOSE-U2: 70 in x 2.54
    assert height.entered_value == Decimal("70")
    assert height.entered_unit == "in"
    assert weight.recorded_by == front_desk


def test_create_dates_measurements_today_in_the_locations_time_zone(monkeypatch, location):
    denver = LocationFactory(code="denver", timezone="America/Denver")
    actor = make_user("front_desk", location, denver)
    # 05:30 UTC on 10 March 2026: already the 10th in New York (01:30), still the 9th in Denver.
    _freeze_now(monkeypatch, datetime(2026, 3, 10, 5, 30, tzinfo=UTC))
    east = _create(actor, location, weight="70", weight_unit="kg")
    west = _create(actor, denver, given_name="Grace", weight="70", weight_unit="kg")
    assert BodyMeasurement.objects.get(patient=east).measured_on == date(2026, 3, 10)
    assert BodyMeasurement.objects.get(patient=west).measured_on == date(2026, 3, 9)


def test_create_refuses_a_birth_date_that_is_tomorrow_at_the_location(monkeypatch, location):
    denver = LocationFactory(code="denver", timezone="America/Denver")
    actor = make_user("front_desk", location, denver)
    _freeze_now(monkeypatch, datetime(2026, 3, 10, 5, 30, tzinfo=UTC))
    # Born "today" in New York is fine; the same date is still tomorrow in Denver.
    assert _create(actor, location, birth_date=date(2026, 3, 10)).pk
    errors = _refused(actor, denver, birth_date=date(2026, 3, 10))
    assert "future" in errors["birth_date"][0]


def test_create_generates_a_nine_digit_mrn_with_a_luhn_check_digit(front_desk, location):
    mrns = [_create(front_desk, location, given_name=f"P{i}").mrn for i in range(12)]
    for mrn in mrns:
        assert len(mrn) == 9
        assert mrn.isdigit()
        assert _luhn_valid(mrn), mrn
    assert len(set(mrns)) == len(mrns)


def test_luhn_check_digit_catches_a_single_mistyped_digit():
    mrn = services._new_mrn()
    wrong_digit = str((int(mrn[3]) + 1) % 10)
    assert not _luhn_valid(mrn[:3] + wrong_digit + mrn[4:])


def test_create_draws_a_new_mrn_when_the_first_is_taken(monkeypatch, front_desk, location):
    taken = PatientFactory(home_location=location).mrn
    fresh = "123456782"
    drawn = iter([taken, fresh])
    monkeypatch.setattr(services, "_new_mrn", lambda: next(drawn))
    patient = _create(front_desk, location)
    assert patient.mrn == fresh
    assert Patient.objects.filter(mrn=taken).count() == 1


def test_create_writes_one_create_event_naming_the_patient_and_its_measurements(
    front_desk, location
):
    before = AuditEvent.objects.count()
    patient = _create(front_desk, location, weight="70", height="170")
    (event,) = AuditEvent.objects.order_by("seq")[before:]
    assert (event.action, event.object_type, event.object_id) == (
        "create",
        "patients.Patient",
        str(patient.pk),
    )
    assert event.patient_id == patient.pk
    assert event.actor_id == front_desk.pk
    weight = BodyMeasurement.objects.get(patient=patient, kind="weight")
    height = BodyMeasurement.objects.get(patient=patient, kind="height")
    assert (weight.value_si, height.value_si) == (Decimal("70.0"), Decimal("170.0"))
    assert {weight.recorded_by_id, height.recorded_by_id} == {front_desk.pk}
    assert event.detail == {
        "measurements": [{"id": weight.pk, "kind": "weight"}, {"id": height.pk, "kind": "height"}]
    }


def test_create_without_measurements_writes_one_event_without_detail(front_desk, location):
    before = AuditEvent.objects.count()
    patient = _create(front_desk, location)
    (event,) = AuditEvent.objects.order_by("seq")[before:]
    assert (event.action, event.patient_id, event.detail) == ("create", patient.pk, {})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"weight": "70", "weight_unit": "stone"}, "weight_unit"),
        ({"height": "170", "height_unit": "ft"}, "height_unit"),
        ({"birth_date": timezone.localdate() + timedelta(days=2)}, "birth_date"),
        ({"weight": "0", "weight_unit": "kg"}, "weight"),
        ({"weight": "700", "weight_unit": "kg"}, "weight"),
        ({"weight": "1600", "weight_unit": "lb"}, "weight"),  # 725.7 kg
        ({"weight": "seventy"}, "weight"),
        ({"height": "20", "height_unit": "cm"}, "height"),
        ({"email": "ada@@example"}, "email"),
        ({"email": "not an email"}, "email"),
        ({"sex_at_birth": "x"}, "sex_at_birth"),
        ({"given_name": "  "}, "given_name"),
        ({"country": "USA"}, "country"),
        ({"mrn": "123456782"}, "mrn"),
    ],
    ids=[
        "unknown-weight-unit",
        "unknown-height-unit",
        "future-dob",
        "0kg",
        "700kg",
        "1600lb",
        "not-a-number",
        "20cm",
        "malformed-email",
        "email-with-space",
        "unknown-sex",
        "blank-name",
        "3-letter-country",
        "unknown-field",
    ],
)
def test_create_refuses_bad_input_on_its_field_and_saves_nothing(
    front_desk, location, overrides, field
):
    errors = _refused(front_desk, location, **overrides)
    assert field in errors
    assert errors[field]


def test_create_reports_every_bad_field_at_once(front_desk, location):
    errors = _refused(
        front_desk,
        location,
        birth_date=date(2999, 1, 1),
        weight="0",
        height="170",
        height_unit="yd",
        email="nope",
    )
    assert set(errors) == {"birth_date", "weight", "height_unit", "email"}


def test_unknown_unit_error_names_the_units_that_are_accepted(front_desk, location):
    errors = _refused(front_desk, location, weight="70", weight_unit="stone")
    assert errors["weight_unit"] == ["Unknown weight unit 'stone'; use kg or lb."]


def test_weight_range_ends_come_from_settings(front_desk, location):
    low, high = settings.PATIENT_WEIGHT_MIN_KG, settings.PATIENT_WEIGHT_MAX_KG
    assert _create(front_desk, location, given_name="Low", weight=str(low)).pk
    assert _create(front_desk, location, given_name="High", weight=str(high)).pk
    below = _refused(front_desk, location, weight=str(Decimal(str(low)) - Decimal("0.1")))
    above = _refused(front_desk, location, weight=str(Decimal(str(high)) + Decimal("0.1")))
    assert "outside the plausible range" in below["weight"][0]
    assert "outside the plausible range" in above["weight"][0]


@override_settings(PATIENT_WEIGHT_MIN_KG=40.0, PATIENT_WEIGHT_MAX_KG=200.0)
def test_weight_range_follows_changed_settings(front_desk, location):
    assert "weight" in _refused(front_desk, location, weight="250")
    assert "weight" in _refused(front_desk, location, weight="30")
    assert _create(front_desk, location, weight="200").pk


@override_settings(PATIENT_HEIGHT_MIN_CM=120.0, PATIENT_HEIGHT_MAX_CM=220.0)
def test_height_range_follows_changed_settings(front_desk, location):
    assert "height" in _refused(front_desk, location, height="230")
    assert "height" in _refused(front_desk, location, height="45", height_unit="in")  # 114.3 cm
    assert _create(front_desk, location, height="220").pk


def test_create_refuses_a_location_the_actor_does_not_work_at(front_desk, location, other_location):
    errors = _refused(front_desk, other_location)
    assert errors == {"location": ["You do not work at that location."]}


@pytest.mark.parametrize("role", ["nurse", "prescriber", "patient"])
def test_roles_without_patient_create_are_refused(location, role):
    actor = make_user(role, location)
    before = _counts()
    with pytest.raises(PermissionDenied):
        _create(actor, location)
    assert _counts() == before


@pytest.mark.parametrize("role", ["front_desk", "admin"])
def test_front_desk_and_admin_may_register_patients(location, role):
    assert _create(make_user(role, location), location).home_location == location


# --- patient_update ---------------------------------------------------------------------------


def test_update_with_a_stale_version_raises_conflict_and_changes_nothing(front_desk, location):
    patient = PatientFactory(home_location=location, family_name="Original")
    services.patient_update(
        actor=front_desk, patient=patient, expected_version=1, changes={"phone": "555-0100"}
    )
    before = AuditEvent.objects.count()
    with pytest.raises(services.ConflictError):
        services.patient_update(
            actor=front_desk,
            patient=patient,
            expected_version=1,
            changes={"family_name": "Overwritten"},
        )
    patient.refresh_from_db()
    assert patient.family_name == "Original"
    assert patient.phone == "555-0100"
    assert patient.version == 2
    assert AuditEvent.objects.count() == before


def test_update_with_the_current_version_saves_and_bumps_the_version(front_desk, location):
    patient = PatientFactory(home_location=location)
    updated = services.patient_update(
        actor=front_desk, patient=patient, expected_version=1, changes={"city": "Boston"}
    )
    patient.refresh_from_db()
    assert patient.city == "Boston"
    assert patient.version == updated.version == 2


@pytest.mark.parametrize("field", ["mrn", "version", "home_location", "user", "nickname"])
def test_update_refuses_fields_that_are_not_demographics(front_desk, location, field):
    patient = PatientFactory(home_location=location)
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.patient_update(
            actor=front_desk, patient=patient, expected_version=1, changes={field: "1"}
        )
    assert field in exc.value.message_dict
    fresh = Patient.objects.get(pk=patient.pk)
    assert fresh.mrn == patient.mrn
    assert fresh.version == 1
    assert AuditEvent.objects.count() == before


def test_update_refuses_a_future_birth_date(front_desk, location):
    patient = PatientFactory(home_location=location)
    with pytest.raises(ValidationError) as exc:
        services.patient_update(
            actor=front_desk,
            patient=patient,
            expected_version=1,
            changes={"birth_date": date(2999, 1, 1)},
        )
    assert "birth_date" in exc.value.message_dict
    assert Patient.objects.get(pk=patient.pk).birth_date == patient.birth_date


def test_update_event_lists_the_changed_fields(front_desk, location):
    patient = PatientFactory(home_location=location, given_name="Ada", phone="")
    services.patient_update(
        actor=front_desk,
        patient=patient,
        expected_version=1,
        changes={"given_name": "Ada", "family_name": "Byron", "phone": "555-0199"},
    )
    event = AuditEvent.objects.latest("seq")
    assert event.action == "update"
    assert event.patient_id == patient.pk
    assert event.actor_id == front_desk.pk
    assert event.detail["fields"] == ["family_name", "phone"]


def test_update_that_changes_nothing_writes_no_event(front_desk, location):
    patient = PatientFactory(home_location=location, city="Boston")
    before = AuditEvent.objects.count()
    result = services.patient_update(
        actor=front_desk,
        patient=patient,
        expected_version=1,
        changes={"city": " Boston ", "given_name": patient.given_name},
    )
    assert result.version == 1
    assert AuditEvent.objects.count() == before


def test_patient_role_may_not_edit_demographics(location):
    patient = PatientFactory(home_location=location)
    user = make_user("patient", patient=patient)
    with pytest.raises(PermissionDenied):
        services.patient_update(
            actor=user, patient=patient, expected_version=1, changes={"phone": "1"}
        )


# --- diagnoses (../shared/domain/codes.md) ----------------------------------------------------


@pytest.fixture
def prescriber(location):
    return make_user("prescriber", location)


def test_billable_leaf_code_is_recorded_with_its_description(prescriber, location):
    patient = PatientFactory(home_location=location)
    diagnosis = services.diagnosis_add(actor=prescriber, patient=patient, code="f33.2 ")
    assert diagnosis.code == "F33.2"  # CODE-DX3
    assert diagnosis.description == (
        "Major depressive disorder, recurrent severe without psychotic features"
    )
    event = AuditEvent.objects.latest("seq")
    assert event.action == "create"
    assert event.object_type == "patients.Diagnosis"
    assert event.detail == {"code": "F33.2"}


@pytest.mark.parametrize("code", ["F43.1", "G90.51", "F33"])
def test_code_dx_r1_category_code_is_refused(prescriber, location, code):
    patient = PatientFactory(home_location=location)
    with pytest.raises(ValidationError) as exc:
        services.diagnosis_add(actor=prescriber, patient=patient, code=code)
    (message,) = exc.value.message_dict["code"]
    assert "not a billable code" in message
    assert "CODE-DX-R1" in message
    assert not Diagnosis.objects.filter(patient=patient).exists()


@pytest.mark.parametrize("code", ["Z99.999", "F33.25", "", "DROP TABLE"])
def test_unknown_code_is_refused(prescriber, location, code):
    patient = PatientFactory(home_location=location)
    with pytest.raises(ValidationError) as exc:
        services.diagnosis_add(actor=prescriber, patient=patient, code=code)
    assert "code" in exc.value.message_dict
    assert not Diagnosis.objects.filter(patient=patient).exists()


def test_the_same_code_twice_is_refused(prescriber, location):
    patient = PatientFactory(home_location=location)
    services.diagnosis_add(actor=prescriber, patient=patient, code="F43.12")
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.diagnosis_add(actor=prescriber, patient=patient, code="f43.12")
    assert exc.value.message_dict["code"] == ["F43.12 is already on this chart."]
    assert Diagnosis.objects.filter(patient=patient).count() == 1
    assert AuditEvent.objects.count() == before


def test_a_new_primary_diagnosis_replaces_the_old_primary(prescriber, location):
    patient = PatientFactory(home_location=location)
    other = PatientFactory(home_location=location)
    services.diagnosis_add(actor=prescriber, patient=other, code="F33.2", is_primary=True)
    services.diagnosis_add(actor=prescriber, patient=patient, code="F33.2", is_primary=True)
    services.diagnosis_add(actor=prescriber, patient=patient, code="G89.4")
    services.diagnosis_add(actor=prescriber, patient=patient, code="F43.12", is_primary=True)
    primaries = Diagnosis.objects.filter(patient=patient, is_primary=True)
    assert [d.code for d in primaries] == ["F43.12"]
    assert Diagnosis.objects.filter(patient=patient).count() == 3
    # Another patient's primary is untouched.
    assert Diagnosis.objects.get(patient=other).is_primary


@pytest.mark.parametrize("role", ["front_desk", "nurse", "admin", "patient"])
def test_only_prescribers_record_diagnoses(location, role):
    patient = PatientFactory(home_location=location)
    actor = make_user(role, location)
    with pytest.raises(PermissionDenied):
        services.diagnosis_add(actor=actor, patient=patient, code="F33.2")
    assert not Diagnosis.objects.exists()


# --- referring provider NPI -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("npi", "valid"),
    [
        ("1234567893", True),  # the CMS worked example
        ("1234567890", False),
        ("1234567", False),
        ("123456789a", False),
        ("12345678931", False),
        ("", False),
    ],
)
def test_npi_check_digit(npi, valid):
    assert services.npi_is_valid(npi) is valid


def test_referring_provider_with_a_bad_npi_is_refused():
    with pytest.raises(ValidationError) as exc:
        services.referring_provider_get_or_create(name="Dr. Cho", npi="1234567890")
    assert "referring_provider_npi" in exc.value.message_dict


def test_referring_provider_with_the_same_npi_and_name_is_reused():
    first = services.referring_provider_get_or_create(name="Dr. Cho", npi="1234567893")
    again = services.referring_provider_get_or_create(name="dr.  cho", npi="1234567893")
    assert again.pk == first.pk


def test_referring_provider_with_the_same_npi_and_another_name_is_not_reused_silently():
    """Issue 21 point 1 (more in test_referring_provider_edges13.py)."""
    services.referring_provider_get_or_create(name="Dr. Cho", npi="1234567893")
    with pytest.raises(services.ReferringProviderConflict):
        services.referring_provider_get_or_create(name="Helen Cho", npi="1234567893")


# --- measurements, allergies, medications -----------------------------------------------------


def test_measurement_in_lb_is_stored_in_kg_and_audited(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    m = services.measurement_record(
        actor=nurse, patient=patient, kind="weight", value="154.3", unit="lb"
    )
    assert m.value_si == Decimal("70.0")  # DOSE-U1: 69.99
    assert (m.entered_value, m.entered_unit) == (Decimal("154.3"), "lb")
    event = AuditEvent.objects.latest("seq")
    assert (event.action, event.object_type, event.object_id) == (
        "create",
        "patients.BodyMeasurement",
        str(m.pk),
    )


def test_measurement_dated_in_the_future_is_refused(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    with pytest.raises(ValidationError) as exc:
        services.measurement_record(
            actor=nurse,
            patient=patient,
            kind="weight",
            value="70",
            unit="kg",
            measured_on=timezone.localdate(timezone=location.tzinfo) + timedelta(days=1),
        )
    assert "measured_on" in exc.value.message_dict
    assert not BodyMeasurement.objects.exists()


def test_allergy_and_medication_adds_are_audited(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    allergy = services.allergy_add(
        actor=nurse, patient=patient, substance="Penicillin", severity="severe"
    )
    medication = services.medication_add(
        actor=nurse, patient=patient, name="Sertraline", dose="50 mg daily"
    )
    events = list(AuditEvent.objects.order_by("-seq")[:2])
    assert [(e.action, e.object_type, e.object_id) for e in reversed(events)] == [
        ("create", "patients.Allergy", str(allergy.pk)),
        ("create", "patients.Medication", str(medication.pk)),
    ]


def test_allergy_with_an_unknown_severity_is_refused(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    with pytest.raises(ValidationError) as exc:
        services.allergy_add(actor=nurse, patient=patient, substance="Latex", severity="fatal")
    assert "severity" in exc.value.message_dict


# --- search -----------------------------------------------------------------------------------


@pytest.fixture
def searchable(location, other_location):
    return {
        "ann_smith": PatientFactory(home_location=location, given_name="Ann", family_name="Smith"),
        "bob_smithers": PatientFactory(
            home_location=location, given_name="Bob", family_name="SMITHERS"
        ),
        "ann_jones": PatientFactory(
            home_location=location,
            given_name="Ann",
            family_name="Jones",
            birth_date=date(1991, 7, 4),
        ),
        "far_smith": PatientFactory(
            home_location=other_location, given_name="Ann", family_name="Smith"
        ),
    }


def _search(user, query):
    return {p.pk for p in patient_search(user=user, query=query)}


def _ids(patients, *names):
    return {patients[n].pk for n in names}


@pytest.mark.parametrize("query", ["smi", "SMI", "sMiTh"])
def test_search_by_family_name_prefix_ignores_case(location, searchable, query):
    nurse = make_user("nurse", location)
    assert _search(nurse, query) == _ids(searchable, "ann_smith", "bob_smithers")


def test_search_matches_name_prefixes_not_substrings(location, searchable):
    nurse = make_user("nurse", location)
    assert _search(nurse, "mith") == set()


def test_search_with_several_words_needs_each_to_match(location, searchable):
    nurse = make_user("nurse", location)
    assert _search(nurse, "ann smi") == _ids(searchable, "ann_smith")
    assert _search(nurse, "  Smith   ANN ") == _ids(searchable, "ann_smith")
    assert _search(nurse, "bob jones") == set()


def test_search_by_mrn_finds_exactly_that_patient(location, searchable):
    nurse = make_user("nurse", location)
    assert _search(nurse, searchable["ann_jones"].mrn) == _ids(searchable, "ann_jones")


@pytest.mark.parametrize("query", ["1991-07-04", "07/04/1991", "7/4/1991"])
def test_search_by_date_of_birth_in_either_format(location, searchable, query):
    nurse = make_user("nurse", location)
    assert _search(nurse, query) == _ids(searchable, "ann_jones")


def test_search_sees_only_the_users_locations(location, other_location, searchable):
    north_nurse = make_user("nurse", location)
    south_nurse = make_user("nurse", other_location)
    both = make_user("prescriber", location, other_location)
    assert searchable["far_smith"].pk not in _search(north_nurse, "smith")
    assert _search(north_nurse, searchable["far_smith"].mrn) == set()
    assert _search(south_nurse, "smith") == _ids(searchable, "far_smith")
    assert _search(both, "ann smith") == _ids(searchable, "ann_smith", "far_smith")


def test_patient_role_cannot_search(location, searchable):
    user = make_user("patient", patient=searchable["ann_smith"])
    assert _search(user, "smith") == set()
    assert _search(user, "") == set()


def test_search_ignores_case_of_accented_letters(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location, given_name="Émile", family_name="Müller")
    assert _search(nurse, "émile MÜLLER") == {patient.pk}


def test_search_ignores_accents_so_staff_can_type_without_them(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location, given_name="Émile", family_name="Müller")
    assert _search(nurse, "emile mull") == {patient.pk}


def test_renaming_a_patient_updates_what_search_finds(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location, family_name="Smith")
    services.patient_update(
        actor=nurse, patient=patient, expected_version=1, changes={"family_name": "Ñúñez"}
    )
    assert _search(nurse, "nunez") == {patient.pk}
    assert _search(nurse, "smith") == set()


def test_a_new_primary_diagnosis_audits_the_demotion_of_the_old_one(location):
    prescriber = make_user("prescriber", location)
    patient = PatientFactory(home_location=location)
    old = services.diagnosis_add(actor=prescriber, patient=patient, code="F33.1", is_primary=True)
    services.diagnosis_add(actor=prescriber, patient=patient, code="F33.2", is_primary=True)
    old.refresh_from_db()
    assert old.is_primary is False
    event = AuditEvent.objects.get(action="update", object_id=str(old.pk))
    assert event.detail == {"fields": ["is_primary"], "replaced_by": "F33.2"}


# --- Search order and page (issue 13 d): each branch is read in index order and cut at the page
# size, then merged; the answer must equal "every match, sorted, first `limit`".

_NAMES = [
    ("Ann", "Smith", ""),
    ("Anna", "Smithers", ""),
    ("Smita", "Ann", ""),
    ("Bob", "Müller", "Smitty"),
    ("Böb", "Muller", ""),
    ("Zed", "SMITH", "Ann"),
    ("Ann", "Smith", ""),  # a namesake: the id decides
    ("Mull", "Zed", ""),
    ("ann", "Mueller", "Bo"),
    ("Ade", "Smit", ""),
]


@pytest.fixture
def crowd(location, other_location):
    patients = [
        PatientFactory(
            home_location=location, given_name=given, family_name=family, preferred_name=preferred
        )
        for given, family, preferred in _NAMES
    ]
    PatientFactory(home_location=other_location, given_name="Ann", family_name="Smith")
    return patients


@pytest.fixture
def searcher(location):
    return make_user("nurse", location)


def _expected(patients, words, limit):
    from infusionclinic.patients.models import fold_for_search

    keys = [fold_for_search(word) for word in words]

    def matches(p):
        names = (p.family_name_key, p.given_name_key, p.preferred_name_key)
        return all(any(name.startswith(key) for name in names) for key in keys)

    hits = sorted(
        (p for p in patients if matches(p)),
        key=lambda p: (p.family_name_key, p.given_name_key, p.pk),
    )
    return [p.pk for p in hits[:limit]]


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(
        st.sampled_from(["a", "an", "ann", "smi", "SMITH", "mu", "mü", "zed", "bo"]), max_size=2
    ),
    limit=st.integers(min_value=1, max_value=12),
)
def test_search_answers_every_match_in_name_order_cut_at_the_limit(
    location, crowd, searcher, words, limit
):
    found = patient_search(user=searcher, query=" ".join(words), limit=limit)
    assert [p.pk for p in found] == _expected(crowd, words, limit)


def test_search_orders_by_folded_names_then_id(location, crowd, searcher):
    found = patient_search(user=searcher, query="mu", limit=10)
    # Folded family name, then folded given name, then id: "Bob Müller" and "Böb Muller" fold to
    # the same keys and come in the order they were registered.
    assert [(p.given_name, p.family_name) for p in found] == [
        ("ann", "Mueller"),
        ("Bob", "Müller"),
        ("Böb", "Muller"),
        ("Mull", "Zed"),
    ]
    assert found[1].pk < found[2].pk
