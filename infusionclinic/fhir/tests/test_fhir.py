"""FHIR R4 output (issue 9, FHIR part, for the chart the foundation holds): the per-patient
Bundle, the read-only REST interface at /fhir/ and the bulk NDJSON export. Every resource
validates with fhir.resources; codes: ../shared/domain/codes.md (CODE-V10, CODE-V11, ICD-10-CM)."""

import json
from datetime import date

import pytest
from django.core.management import call_command
from django.test import Client

from infusionclinic.audit.models import AuditEvent
from infusionclinic.fhir.resources import validate
from infusionclinic.patients import services
from tests.factories import PatientFactory, add_weight, api_client, logged_in_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def chart(location):
    prescriber = make_user("prescriber", location)
    patient = PatientFactory(
        home_location=location,
        given_name="Ada",
        family_name="Byron",
        preferred_name="Ada B",
        phone="555-0101",
        city="Boston",
        address_line1="1 Main St",
        emergency_contact_name="Lord B",
        emergency_contact_phone="555-0102",
    )
    services.diagnosis_add(actor=prescriber, patient=patient, code="F33.2", is_primary=True)
    for day in (1, 8, 15):
        add_weight(patient, "70.5", date(2026, 11, day))
    services.measurement_record(
        actor=prescriber,
        patient=patient,
        kind="height",
        value=165,
        unit="cm",
        measured_on=date(2026, 11, 1),
    )
    return patient


def test_patient_bundle_holds_validated_patient_condition_and_observations(location, chart):
    nurse = make_user("nurse", location)
    response = api_client(nurse).get(f"/api/v1/patients/{chart.pk}/fhir")
    assert response.status_code == 200
    bundle = response.json()
    validate(bundle)
    assert bundle["type"] == "collection"
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    # Three weights and a height, then a BMI for each weight (CODE-V12).
    assert types == ["Patient", "Condition", *["Observation"] * 7]
    patient, condition, *observations = (e["resource"] for e in bundle["entry"])
    assert patient["identifier"][0]["value"] == chart.mrn
    assert patient["birthDate"] == chart.birth_date.isoformat()
    assert condition["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10-cm",
        "code": "F33.2",
        "display": "Major depressive disorder, recurrent severe without psychotic features",
    }
    weight = next(o for o in observations if o["code"]["coding"][0]["code"] == "29463-7")
    assert weight["valueQuantity"] == {
        "value": 70.5,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    }  # CODE-V11
    height = next(o for o in observations if o["code"]["coding"][0]["code"] == "8302-2")
    assert height["valueQuantity"]["code"] == "cm"  # CODE-V10
    assert weight["category"][0]["coding"][0]["code"] == "vital-signs"
    assert AuditEvent.objects.filter(action="export", patient=chart).count() == 1


def test_bundle_of_another_locations_patient_is_404(location, other_location, chart):
    outsider = make_user("nurse", other_location)
    assert api_client(outsider).get(f"/api/v1/patients/{chart.pk}/fhir").status_code == 404


def test_metadata_is_a_capability_statement_for_fhir_4_0_1():
    response = Client().get("/fhir/metadata")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    body = response.json()
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert {"Patient", "Observation", "Condition"} <= types


def test_rest_patient_read_needs_a_token_and_applies_access_rules(location, other_location, chart):
    assert Client().get(f"/fhir/Patient/{chart.pk}").status_code == 401
    bad = Client(headers={"Authorization": "Bearer nope"}).get(f"/fhir/Patient/{chart.pk}")
    assert bad.status_code == 401
    assert bad.json()["resourceType"] == "OperationOutcome"
    insider = api_client(make_user("front_desk", location))
    assert insider.get(f"/fhir/Patient/{chart.pk}").json()["id"] == str(chart.pk)
    outsider = api_client(make_user("prescriber", other_location))
    refused = outsider.get(f"/fhir/Patient/{chart.pk}")
    assert refused.status_code == 404
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert AuditEvent.objects.filter(action="denied").count() == 1


def test_observation_search_by_patient_code_and_date_pages_with_next_links(location, chart):
    client = api_client(make_user("nurse", location))
    url = f"/fhir/Observation?patient=Patient/{chart.pk}&code=http://loinc.org|29463-7"
    first = client.get(url + "&_count=2").json()
    validate(first)
    assert first["total"] == 3
    assert len(first["entry"]) == 2
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(next_url).json()
    assert len(second["entry"]) == 1
    assert not [link for link in second["link"] if link["relation"] == "next"]
    dated = client.get(url + "&date=ge2026-11-08&date=le2026-11-08").json()
    assert [e["resource"]["effectiveDateTime"] for e in dated["entry"]] == ["2026-11-08"]
    assert client.get(url.replace("29463-7", "8302-2")).json()["total"] == 1
    assert client.get(url.replace("29463-7", "0000-0")).json()["total"] == 0
    assert client.get(url + "&date=yesterday").status_code == 400
    assert client.get(url + "&_count=0").status_code == 400


def test_observation_search_without_patient_covers_only_visible_patients(
    location, other_location, chart
):
    elsewhere = PatientFactory(home_location=other_location)
    add_weight(elsewhere, "80.0", date(2026, 11, 2))
    client = api_client(make_user("nurse", location))
    bundle = client.get("/fhir/Observation?code=29463-7").json()
    subjects = {e["resource"]["subject"]["reference"] for e in bundle["entry"]}
    assert subjects == {f"Patient/{chart.pk}"}


def test_everything_returns_all_of_one_patients_resources_paged(location, chart):
    client = logged_in_client(make_user("prescriber", location))  # a session works too
    page = client.get(f"/fhir/Patient/{chart.pk}/$everything?_count=4").json()
    validate(page)
    assert page["total"] == 9  # with the three BMIs (CODE-V12)
    kinds = [e["resource"]["resourceType"] for e in page["entry"]]
    assert kinds == ["Patient", "Condition", "Observation", "Observation"]


@pytest.mark.django_db(transaction=True)  # the live server reads committed rows
# Django's LiveServerThread closes the shared in-memory SQLite connection from its own thread at
# teardown, which Django then reports; the test's own requests are unaffected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_fhirclient_library_reads_the_interface(location, chart, live_server):
    from fhirclient import client as fhir_client
    from fhirclient.models.observation import Observation
    from fhirclient.models.patient import Patient

    from infusionclinic.accounts.services import api_token_create

    token = api_token_create(user=make_user("nurse", location))
    smart = fhir_client.FHIRClient(settings={"app_id": "t", "api_base": live_server.url + "/fhir/"})
    smart.server.session.headers["Authorization"] = f"Bearer {token}"
    patient = Patient.read(str(chart.pk), smart.server)
    assert patient.name[0].family == "Byron"
    found = Observation.where(struct={"patient": str(chart.pk)}).perform(smart.server)
    assert found.total == 7  # 3 weights, 1 height, 3 BMIs (CODE-V12)


def test_bulk_export_writes_ndjson_per_resource_type(location, other_location, chart, tmp_path):
    PatientFactory(home_location=other_location)  # not exported
    call_command("fhir_export", location="north", out=str(tmp_path))
    files = {p.name: p.read_text().splitlines() for p in tmp_path.iterdir()}
    assert set(files) == {
        f"{t}.ndjson"
        for t in (
            "Appointment",
            "Communication",  # issue 18 section 3: secure messages
            "Condition",
            "Encounter",
            "Location",
            "MedicationAdministration",
            "MedicationRequest",
            "Observation",
            "Patient",
            "Practitioner",
            "QuestionnaireResponse",
        )
    }
    assert len(files["Patient.ndjson"]) == 1
    assert len(files["Observation.ndjson"]) == 7  # with the BMIs (CODE-V12)
    for lines in files.values():
        for line in lines:
            validate(json.loads(line))
    assert AuditEvent.objects.get(action="export").detail["counts"]["Observation"] == 7


def test_bulk_export_refuses_an_unknown_location(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No location"):
        call_command("fhir_export", location="nowhere", out=str(tmp_path))


def test_bundle_holds_questionnaire_scores_signed_orders_and_appointments(location, chart):
    """Issue 9: QuestionnaireResponse and its total as a survey Observation (LOINC 44261-6,
    codes.md CODE-S2), MedicationRequest for a signed order (RxNorm, mg and mL/h in UCUM),
    Appointment; each validates with fhir.resources."""
    from datetime import timedelta

    from django.utils import timezone

    from infusionclinic.dosing.models import DosingOrder
    from infusionclinic.dosing.services import dosing_order_create
    from infusionclinic.outcomes.services import assessment_submit
    from infusionclinic.scheduling.models import Appointment

    prescriber = make_user("prescriber", location)
    assessment_submit(
        actor=prescriber, patient=chart, instrument_code="PHQ-9", answers=[1] * 8 + [0]
    )
    order = dosing_order_create(
        actor=prescriber,
        patient=chart,
        indication="depression",
        weight_basis="actual",
        sex_for_dosing="female",
        dose_mg_per_kg="0.5",
        duration_min=40,
        concentration_mg_per_ml="1",
    )
    DosingOrder.objects.filter(pk=order.pk).update(  # signing itself is pinned in dosing/tests
        status="signed", signed_by=prescriber, signed_at=timezone.now()
    )
    start = timezone.now() + timedelta(days=3)
    Appointment.objects.create(
        patient=chart,
        location=location,
        kind="consultation",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
    )
    bundle = (
        api_client(make_user("nurse", location)).get(f"/api/v1/patients/{chart.pk}/fhir").json()
    )
    validate(bundle)
    by_type: dict[str, list] = {}
    for entry in bundle["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    score = next(o for o in by_type["Observation"] if o["id"].startswith("score-"))
    assert score["code"]["coding"][0]["code"] == "44261-6"
    assert score["valueInteger"] == 8
    assert score["category"][0]["coding"][0]["code"] == "survey"
    (response,) = by_type["QuestionnaireResponse"]
    assert len(response["item"]) == 9
    (request,) = by_type["MedicationRequest"]
    assert request["medicationCodeableConcept"]["coding"][0]["system"].endswith("rxnorm")
    rate = request["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"]
    order.refresh_from_db()
    assert (rate["value"], rate["code"]) == (float(order.rate_ml_per_h), "mL/h")
    assert by_type["Appointment"][0]["status"] == "booked"


def test_validate_bundle_checks_each_resource_and_the_envelope(location, chart):
    from pydantic import ValidationError

    from infusionclinic.fhir.resources import collection_bundle, resources_for, validate_bundle

    patients = type(chart).objects.filter(pk=chart.pk)
    bundle = collection_bundle(list(resources_for(patients, stream=False)))
    assert validate_bundle(bundle) is bundle
    broken = json.loads(json.dumps(bundle))
    del broken["entry"][2]["resource"]["code"]  # an Observation needs its code
    with pytest.raises(ValidationError):
        validate_bundle(broken)
    no_type = {k: v for k, v in bundle.items() if k != "type"}  # the envelope needs its type
    with pytest.raises(ValidationError):
        validate_bundle(no_type)


def test_streamed_and_fetched_resources_are_the_same(location, chart):
    from infusionclinic.fhir.resources import resources_for

    patients = type(chart).objects.filter(pk=chart.pk)
    assert list(resources_for(patients)) == list(resources_for(patients, stream=False))
