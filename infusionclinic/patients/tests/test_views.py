"""The patient chart's pages (issue 2 §4 and "Done when"): field errors for bad input with nothing
saved, the chart's content, edit conflicts, escaping, an audit event for every read and write, and
query counts that do not grow with the data."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.patients import services
from infusionclinic.patients.icd10 import icd10_table
from infusionclinic.patients.models import (
    Allergy,
    BodyMeasurement,
    Diagnosis,
    Medication,
    Patient,
    ReferringProvider,
)
from tests.factories import PatientFactory, add_weight, logged_in_client, make_user

pytestmark = pytest.mark.django_db

CREATE_URL = reverse("patients:create")
LIST_URL = reverse("patients:list")
XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _chart_url(patient: Patient) -> str:
    return reverse("patients:chart", args=[patient.pk])


def _valid_post(location, **overrides) -> dict[str, str]:
    data = {
        "given_name": "Ada",
        "family_name": "Lovelace",
        "birth_date": "1985-12-10",
        "sex_at_birth": "female",
        "email": "ada@example.com",
        "phone": "555-0100",
        "country": "US",
        "location": location.code,
        "weight": "154",
        "weight_unit": "lb",
        "height": "165",
        "height_unit": "cm",
        "referring_provider_name": "",
        "referring_provider_npi": "",
    }
    data.update(overrides)
    return data


def _saved_counts():
    return (
        Patient.objects.count(),
        BodyMeasurement.objects.count(),
        ReferringProvider.objects.count(),
        AuditEvent.objects.filter(action="create").count(),
    )


def _events_after(seq: int, **filters):
    return list(AuditEvent.objects.filter(seq__gt=seq, **filters).order_by("seq"))


def _last_seq() -> int:
    last = AuditEvent.objects.order_by("-seq").first()
    return last.seq if last else 0


@pytest.fixture
def front_desk_client(location):
    return logged_in_client(make_user("front_desk", location))


@pytest.fixture
def nurse(location):
    return make_user("nurse", location)


@pytest.fixture
def nurse_client(nurse):
    return logged_in_client(nurse)


# --- registering a patient --------------------------------------------------------------------


def test_valid_registration_redirects_to_the_new_chart(front_desk_client, location):
    response = front_desk_client.post(CREATE_URL, _valid_post(location))
    patient = Patient.objects.get(family_name="Lovelace")
    assert response.status_code == 302
    assert response["Location"] == _chart_url(patient)
    weight = BodyMeasurement.objects.get(patient=patient, kind="weight")
    assert str(weight.value_si) == "69.9"  # DOSE-U1: 154 lb
    assert weight.entered_unit == "lb"
    assert weight.measured_on == timezone.localdate(timezone=location.tzinfo)
    page = front_desk_client.get(response["Location"])
    assert f"MRN {patient.mrn}" in page.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        # The select offers only kg and lb; a hand-made request may still send anything.
        ({"weight_unit": "stone"}, "weight_unit"),
        ({"height_unit": "ft"}, "height_unit"),
        ({"birth_date": (timezone.localdate() + timedelta(days=2)).isoformat()}, "birth_date"),
        ({"weight": "0", "weight_unit": "kg"}, "weight"),
        ({"weight": "700", "weight_unit": "kg"}, "weight"),
        ({"weight": "heavy"}, "weight"),
        ({"email": "ada@@example"}, "email"),
        ({"given_name": ""}, "given_name"),
        (
            {"referring_provider_name": "Dr. Cho", "referring_provider_npi": "1234567890"},
            "referring_provider_npi",
        ),
    ],
    ids=[
        "unknown-weight-unit",
        "unknown-height-unit",
        "future-dob",
        "0kg",
        "700kg",
        "not-a-number",
        "malformed-email",
        "missing-name",
        "bad-npi",
    ],
)
def test_registration_with_bad_input_shows_a_field_error_and_saves_nothing(
    front_desk_client, location, overrides, field
):
    before = _saved_counts()
    response = front_desk_client.post(CREATE_URL, _valid_post(location, **overrides))
    assert response.status_code != 302
    form = response.context["form"]
    assert form.errors[field]
    body = response.content.decode()
    assert 'role="alert"' in body
    assert str(form.errors[field][0]) in body.replace("&#x27;", "'")
    assert _saved_counts() == before


def test_registration_at_a_location_the_user_does_not_work_at_is_refused(
    front_desk_client, location, other_location
):
    before = _saved_counts()
    response = front_desk_client.post(CREATE_URL, _valid_post(other_location))
    assert response.context["form"].errors["location"]
    assert _saved_counts() == before


def test_registration_with_a_referring_provider_shows_it_on_the_chart(front_desk_client, location):
    response = front_desk_client.post(
        CREATE_URL,
        _valid_post(
            location,
            referring_provider_name="Dr. Helen Cho, MD",
            referring_provider_practice="Back Bay Psychiatry",
            referring_provider_npi="1234567893",
        ),
    )
    page = front_desk_client.get(response["Location"]).content.decode()
    assert "Dr. Helen Cho, MD" in page
    assert "Back Bay Psychiatry" in page
    assert "1234567893" in page


@pytest.mark.parametrize("role", ["nurse", "prescriber", "patient"])
def test_roles_without_patient_create_get_403_on_the_form(location, role):
    client = logged_in_client(make_user(role, location))
    assert client.get(CREATE_URL).status_code == 403
    assert client.post(CREATE_URL, _valid_post(location)).status_code == 403
    assert not Patient.objects.exists()


# --- the chart page ---------------------------------------------------------------------------


@pytest.fixture
def charted(location):
    """A patient with something in every chart section."""
    provider = services.referring_provider_get_or_create(
        name="Marcus Bell, LICSW", practice="Charles River Counseling", npi="1987654328"
    )
    patient = PatientFactory(
        home_location=location,
        given_name="Jordan",
        family_name="Avery",
        preferred_name="Jo",
        birth_date=date(1986, 3, 14),
        sex_at_birth="male",
        gender_identity="Non-binary",
        phone="555-0142",
        emergency_contact_name="Sam Avery",
        emergency_contact_relationship="Sibling",
        emergency_contact_phone="555-0143",
        referring_provider=provider,
    )
    add_weight(patient, "80.0", date(2025, 1, 5))
    add_weight(patient, "82.6", date(2025, 6, 1))
    Allergy.objects.create(patient=patient, substance="Penicillin", reaction="hives")
    Medication.objects.create(patient=patient, name="Sertraline", dose="150 mg daily")
    entry = icd10_table()["F33.2"]
    Diagnosis.objects.create(
        patient=patient, code=entry.code, description=entry.description, is_primary=True
    )
    return patient


def test_chart_shows_demographics_weight_clinical_lists_and_referrer(nurse_client, charted):
    response = nurse_client.get(_chart_url(charted))
    assert response.status_code == 200
    page = response.content.decode()
    for text in [
        "Jo Avery",
        "Jordan Avery",  # legal name
        charted.mrn,
        "1986-03-14",
        "Male",
        "Non-binary",
        "555-0142",
        "Sam Avery (Sibling)",
        "<strong>82.6 kg</strong> on 2025-06-01",  # the latest weight, in kg, with its date
        "Penicillin",
        "hives",
        "Sertraline",
        "150 mg daily",
        "F33.2",
        "Major depressive disorder, recurrent severe without psychotic features",
        "primary",
        "Marcus Bell, LICSW",
        "Charles River Counseling",
        "1987654328",
    ]:
        assert text in page, text


def test_front_desk_chart_leaves_out_clinical_detail(front_desk_client, charted):
    page = front_desk_client.get(_chart_url(charted)).content.decode()
    assert "Jordan Avery" in page
    assert "Marcus Bell, LICSW" in page
    assert "Penicillin" not in page
    assert "Sertraline" not in page
    assert "F33.2" not in page


def test_chart_view_writes_a_view_event(nurse, nurse_client, charted):
    seq = _last_seq()
    nurse_client.get(_chart_url(charted))
    (event,) = _events_after(seq)
    assert event.action == "view"
    assert event.patient_id == charted.pk
    assert event.actor_id == nurse.pk
    assert event.actor_role == "nurse"
    assert event.channel == "web"
    assert event.client_address == "127.0.0.1"


def test_chart_at_another_location_is_404_and_audited_as_denied(nurse_client, other_location):
    far = PatientFactory(home_location=other_location)
    seq = _last_seq()
    assert nurse_client.get(_chart_url(far)).status_code == 404
    (event,) = _events_after(seq)
    assert event.action == "denied"
    assert event.patient_id is None


def test_patient_list_writes_a_search_event_with_the_listed_ids(nurse, nurse_client, location):
    shown = [PatientFactory(home_location=location, family_name=f"Quinn{i}") for i in range(3)]
    PatientFactory(home_location=location, family_name="Other")
    seq = _last_seq()
    response = nurse_client.get(LIST_URL, {"q": "quinn"})
    assert response.status_code == 200
    (event,) = _events_after(seq)
    assert event.action == "search"
    assert event.actor_id == nurse.pk
    assert event.detail == {"q": "quinn", "patient_ids": [p.pk for p in shown]}


def test_chart_adds_each_write_a_create_event(location, charted):
    prescriber = make_user("prescriber", location)
    client = logged_in_client(prescriber)
    seq = _last_seq()
    posts = [
        ("patients:measurement_add", {"kind": "weight", "value": "180", "unit": "lb"}),
        ("patients:allergy_add", {"substance": "Latex", "severity": "mild"}),
        ("patients:medication_add", {"name": "Bupropion", "dose": "150 mg"}),
        ("patients:diagnosis_add", {"code": "F43.12"}),
    ]
    for name, data in posts:
        response = client.post(reverse(name, args=[charted.pk]), data)
        assert response.status_code == 302, name
        assert response["Location"] == _chart_url(charted)
    events = _events_after(seq)
    assert [(e.action, e.object_type) for e in events] == [
        ("create", "patients.BodyMeasurement"),
        ("create", "patients.Allergy"),
        ("create", "patients.Medication"),
        ("create", "patients.Diagnosis"),
    ]
    assert {e.patient_id for e in events} == {charted.pk}
    assert BodyMeasurement.objects.filter(patient=charted).latest("created_at").value_si == Decimal(
        "81.6"
    )


def test_category_code_on_the_chart_form_is_a_field_error(location, charted):
    client = logged_in_client(make_user("prescriber", location))
    response = client.post(reverse("patients:diagnosis_add", args=[charted.pk]), {"code": "G90.51"})
    assert response.status_code == 400
    assert "CODE-DX-R1" in response.context["diagnosis_form"].errors["code"][0]
    assert not Diagnosis.objects.filter(code="G90.51").exists()


def test_measurement_form_with_an_implausible_weight_is_a_field_error(nurse_client, charted):
    response = nurse_client.post(
        reverse("patients:measurement_add", args=[charted.pk]),
        {"kind": "weight", "value": "700", "unit": "kg"},
    )
    assert response.status_code == 400
    assert response.context["measurement_form"].errors["value"]
    assert BodyMeasurement.objects.filter(patient=charted).count() == 2


# --- editing ----------------------------------------------------------------------------------


def _edit_post(patient: Patient, version: int, **changes) -> dict[str, str]:
    data = {name: getattr(patient, name) for name in services.DEMOGRAPHIC_FIELDS}
    data["birth_date"] = patient.birth_date.isoformat()
    data.update(changes, version=version)
    return data


def test_editing_with_a_stale_version_shows_the_conflict_and_keeps_the_other_change(
    location, nurse_client
):
    patient = PatientFactory(home_location=location, phone="555-0000")
    loaded = nurse_client.get(reverse("patients:edit", args=[patient.pk]))
    stale_version = loaded.context["form"].initial["version"]
    # Someone else saves first.
    services.patient_update(
        actor=make_user("front_desk", location),
        patient=patient,
        expected_version=stale_version,
        changes={"phone": "555-1111"},
    )
    response = nurse_client.post(
        reverse("patients:edit", args=[patient.pk]),
        _edit_post(patient, stale_version, phone="555-2222", city="Quincy"),
    )
    assert response.status_code == 409
    assert "Someone else changed this chart" in response.content.decode()
    patient.refresh_from_db()
    assert patient.phone == "555-1111"
    assert patient.city == ""
    assert patient.version == stale_version + 1


def test_editing_with_the_current_version_saves_and_audits(location, nurse, nurse_client):
    patient = PatientFactory(home_location=location)
    seq = _last_seq()
    response = nurse_client.post(
        reverse("patients:edit", args=[patient.pk]), _edit_post(patient, 1, city="Quincy")
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.city == "Quincy"
    (event,) = _events_after(seq)
    assert event.action == "update"
    assert event.detail == {"fields": ["city"]}


def test_edit_with_a_malformed_email_is_a_field_error_and_changes_nothing(location, nurse_client):
    patient = PatientFactory(home_location=location)
    response = nurse_client.post(
        reverse("patients:edit", args=[patient.pk]),
        _edit_post(patient, 1, email="ada@@example", city="Quincy"),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["email"]
    assert Patient.objects.get(pk=patient.pk).city == ""


# --- escaping ---------------------------------------------------------------------------------


def test_html_in_a_name_is_escaped_on_the_chart_and_the_list(location, nurse_client):
    patient = PatientFactory(
        home_location=location, given_name=XSS, family_name=f"Evil{XSS}", preferred_name=XSS
    )
    chart = nurse_client.get(_chart_url(patient)).content.decode()
    listing = nurse_client.get(LIST_URL, {"q": "evil"}).content.decode()
    partial = nurse_client.get(LIST_URL, {"q": "evil"}, headers={"HX-Request": "true"})
    for page in (chart, listing, partial.content.decode()):
        assert XSS not in page
        assert XSS_ESCAPED in page


# --- query counts do not grow with the data (issue 2 "Done when") -----------------------------


def _queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_patient_list_query_count_is_the_same_with_ten_times_the_patients(location, nurse_client):
    n = 4
    for i in range(n):
        PatientFactory(home_location=location, family_name=f"Aa{i:03d}")
    nurse_client.get(LIST_URL)  # warm the session
    small = _queries_for(nurse_client, LIST_URL)
    for i in range(n, 10 * n):
        PatientFactory(home_location=location, family_name=f"Aa{i:03d}")
    with CaptureQueriesContext(connection) as ctx:
        response = nurse_client.get(LIST_URL)
    assert len(response.context["patients"]) == 10 * n
    assert "Aa039" in response.content.decode()
    assert len(ctx.captured_queries) == small


def test_chart_query_count_is_the_same_with_ten_times_the_records(location, nurse_client):
    patient = PatientFactory(home_location=location)
    codes = [c.code for c in icd10_table().values() if c.billable]
    today = timezone.localdate()

    def add_records(start: int, stop: int) -> None:
        for i in range(start, stop):
            add_weight(patient, f"{70 + i}.0", today - timedelta(days=i + 1))
            Allergy.objects.create(patient=patient, substance=f"Substance {i:03d}")
            Medication.objects.create(patient=patient, name=f"Medication {i:03d}")
            Diagnosis.objects.create(patient=patient, code=codes[i], description=f"Dx {i}")

    n = 3
    add_records(0, n)
    url = _chart_url(patient)
    nurse_client.get(url)  # warm the session
    small = _queries_for(nurse_client, url)
    add_records(n, 10 * n)
    with CaptureQueriesContext(connection) as ctx:
        response = nurse_client.get(url)
    page = response.content.decode()
    assert "Substance 029" in page
    assert "Medication 029" in page
    assert codes[29] in page
    assert len(ctx.captured_queries) == small
