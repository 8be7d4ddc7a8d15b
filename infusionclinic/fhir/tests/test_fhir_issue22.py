"""Issue 22 points 1, 7 and 8: FHIR shows each role what its chart API shows; read and search
for every type as a FHIR client (fhirclient) expects; the US Core elements a record carries."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client, override_settings
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.fhir.resources import resource_types, validate
from infusionclinic.patients.services import diagnosis_add, measurement_record
from tests.factories import PASSWORD, PatientFactory, add_weight, api_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(location):
    """A patient with the whole record: diagnosis, weight and height, a signed order, a visit
    with vitals, a PHQ-9 and the infusion given, an appointment and a secure message."""
    from infusionclinic.courses.services import protocol_defaults_ensure
    from infusionclinic.dosing import services as dosing_services
    from infusionclinic.dosing.tests.factories import STANDARD
    from infusionclinic.infusions import services as infusion_services
    from infusionclinic.infusions.tests.factories import infusing, session_for, shift_back
    from infusionclinic.intake.tests.factories import bookable_patient
    from infusionclinic.scheduling.models import Appointment

    protocol_defaults_ensure()
    prescriber = make_user("prescriber", location)
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location, given_name="Ada", family_name="Byron")
    today = timezone.localdate(timezone=location.tzinfo)
    add_weight(patient, "80.0", today - timedelta(days=2))
    measurement_record(
        actor=prescriber,
        patient=patient,
        kind="height",
        value=165,
        unit="cm",
        measured_on=today - timedelta(days=2),
    )
    patient_user = make_user("patient", patient=patient)
    diagnosis_add(actor=prescriber, patient=patient, code="F43.10", is_primary=True)
    patient = bookable_patient(patient, staff=prescriber)
    draft = dosing_services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    order = dosing_services.dosing_order_sign(actor=prescriber, order=draft, password=PASSWORD)
    session = infusing(nurse, session_for(nurse, patient, order, location))
    # The ordered time has run (so the dose given is fixed): the pump stopped, the visit recovering.
    shift_back(session, session.order.duration_min)
    infusion_services.pump_event_record(actor=nurse, session=session, action="stop")
    start = timezone.now() + timedelta(days=3)
    Appointment.objects.create(
        patient=patient,
        location=location,
        kind="consultation",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
    )
    from infusionclinic.messaging.services import thread_create

    thread_create(actor=patient_user, category="clinical", subject="A question", body="Hello")
    return SimpleNamespace(
        patient=patient,
        patient_user=patient_user,
        prescriber=prescriber,
        nurse=nurse,
        order=order,
        session=session,
        location=location,
    )


def _types(bundle: dict) -> set[str]:
    return {e["resource"]["resourceType"] for e in bundle.get("entry", [])}


def _everything(client: Client, patient_id: int) -> list[dict]:
    response = client.get(f"/fhir/Patient/{patient_id}/$everything?_count=200")
    assert response.status_code == 200, response.content[:300]
    return [e["resource"] for e in response.json()["entry"]]


# --- Point 1: each role reads what its chart API shows ---------------------------------------

MEASUREMENT_IDS = ("bm-", "bmi-")


@pytest.mark.parametrize("role", ["front_desk", "nurse", "prescriber", "admin", "patient"])
def test_fhir_shows_each_role_what_its_chart_api_shows(record, role):
    """Issue 22 point 1: the per-patient Bundle and $everything hold Condition, MedicationRequest,
    Encounter and vitals only for a role whose chart API shows clinical detail (vitals); weight
    and height whenever the chart API shows them (front desk included)."""
    user = record.patient_user if role == "patient" else make_user(role, record.location)
    client = api_client(user)
    chart = client.get(f"/api/v1/patients/{record.patient.pk}/chart").json()
    clinical = chart["vitals"] is not None
    measurements = chart["patient"]["weight"] is not None
    bundle = client.get(f"/api/v1/patients/{record.patient.pk}/fhir").json()
    for resources in (
        [e["resource"] for e in bundle["entry"]],
        _everything(client, record.patient.pk),
    ):
        types = {r["resourceType"] for r in resources}
        observations = [r["id"] for r in resources if r["resourceType"] == "Observation"]
        assert "Patient" in types
        assert any(i.startswith("bm-") for i in observations) == measurements
        assert any(i.startswith("bmi-") for i in observations) == measurements
        assert any(i.startswith("vs-") for i in observations) == clinical
        for clinical_type in ("Condition", "MedicationRequest", "Encounter"):
            assert (clinical_type in types) == clinical, (role, clinical_type)
    for resource_type in ("Condition", "MedicationRequest", "Encounter"):
        found = client.get(f"/fhir/{resource_type}?patient={record.patient.pk}").json()
        assert (found["total"] > 0) == clinical, (role, resource_type)
    weights = client.get(f"/fhir/Observation?patient={record.patient.pk}&code=29463-7").json()
    assert (weights["total"] > 0) == measurements
    assert (role == "front_desk") == (not clinical)


def test_front_desk_reads_and_searches_no_clinical_resource(record):
    """Issue 22 point 1: front desk gets demographics, weight and height; a clinical resource is
    404 on read (a `denied` event) and absent from every search."""
    desk = api_client(make_user("front_desk", record.location))
    nurse = api_client(record.nurse)
    pid = record.patient.pk
    for resource_type in ("Condition", "MedicationRequest", "Encounter"):
        (resource,) = [r for r in _everything(nurse, pid) if r["resourceType"] == resource_type][:1]
        assert nurse.get(f"/fhir/{resource_type}/{resource['id']}").status_code == 200
        refused = desk.get(f"/fhir/{resource_type}/{resource['id']}")
        assert refused.status_code == 404
        assert refused.json()["resourceType"] == "OperationOutcome"
        assert desk.get(f"/fhir/{resource_type}?patient={pid}").json()["total"] == 0
    vitals = desk.get(f"/fhir/Observation?patient={pid}&category=vital-signs").json()
    assert {e["resource"]["id"].split("-")[0] for e in vitals["entry"]} == {"bm", "bmi"}
    assert desk.get(f"/fhir/Patient/{pid}").status_code == 200
    assert AuditEvent.objects.filter(action="denied", actor_role="front_desk").count() == 3


# --- Point 7: a FHIR client's REST interface ---------------------------------------------------


def test_everything_answers_for_a_patient_with_an_appointment(record):
    """Issue 22 point 7: $everything read `subject` of every resource and answered 500 for an
    Appointment (which has participants)."""
    resources = _everything(api_client(record.nurse), record.patient.pk)
    assert "Appointment" in {r["resourceType"] for r in resources}


def test_every_resource_type_is_read_by_id_as_everything_gives_it(record):
    """Issue 22 point 7: read works for every type the CapabilityStatement names."""
    client = api_client(record.prescriber)
    resources = _everything(client, record.patient.pk)
    assert {r["resourceType"] for r in resources} == set(resource_types())
    for resource in resources:
        response = client.get(f"/fhir/{resource['resourceType']}/{resource['id']}")
        assert response.status_code == 200, resource["id"]
        assert response.json() == validate(resource)
    assert client.get("/fhir/Condition/999999").status_code == 404
    assert client.get("/fhir/Observation/bm-x").status_code == 404


class DjangoTestAdapter(requests.adapters.BaseAdapter):
    """Routes a requests.Session (fhirclient's) to Django's test client: no live server."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client

    def send(self, request, **kwargs):  # noqa: ANN001, ANN201, ARG002
        url = urlsplit(request.url)
        answer = self.client.generic(
            request.method,
            url.path + (f"?{url.query}" if url.query else ""),
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers.update(dict(answer.items()))
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


def _fhirclient(user):  # noqa: ANN001, ANN202
    from fhirclient import client as fhir_client

    from infusionclinic.accounts.services import api_token_create

    smart = fhir_client.FHIRClient(settings={"app_id": "t", "api_base": "http://testserver/fhir/"})
    smart.server.session.mount("http://testserver/", DjangoTestAdapter(Client()))
    smart.server.session.headers["Authorization"] = f"Bearer {api_token_create(user=user)}"
    return smart


def test_fhirclient_searches_patients_and_reads_every_type(record, other_location):
    """Issue 22 point 7 ("done when"): fhirclient's Patient.where finds the patient by name,
    family, identifier and birth date (never another location's), and reads every type."""
    import importlib

    from fhirclient.models.patient import Patient as FhirPatient

    PatientFactory(home_location=other_location, given_name="Ada", family_name="Byron")
    smart = _fhirclient(record.prescriber)
    patient = record.patient
    for struct in (
        {"name": "byr"},
        {"family": "Byron", "given": "ada"},
        {"identifier": f"urn:infusionclinic:mrn|{patient.mrn}"},
        {"birthdate": patient.birth_date.isoformat(), "name": "Ada"},
        {"_id": str(patient.pk)},
    ):
        found = FhirPatient.where(struct=struct).perform(smart.server)
        assert [e.resource.id for e in found.entry] == [str(patient.pk)], struct
    assert FhirPatient.where(struct={"name": "nobody"}).perform(smart.server).total == 0
    for resource in _everything(api_client(record.prescriber), patient.pk):
        name = resource["resourceType"]
        module = importlib.import_module(f"fhirclient.models.{name.lower()}")
        read = getattr(module, name).read(resource["id"], smart.server)
        assert read.id == resource["id"]


def test_condition_medication_request_and_encounter_are_searchable(record):
    """Issue 22 point 7: patient, code (comma OR, system|code), status and date searches."""
    client = api_client(record.prescriber)
    pid = record.patient.pk
    today = timezone.localdate()

    def total(url: str) -> int:
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:300])
        return response.json()["total"]

    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    assert total(f"/fhir/Condition?patient={pid}") == 1
    assert total(f"/fhir/Condition?patient={pid}&code={icd}|F43.10") == 1
    assert total(f"/fhir/Condition?patient={pid}&code=F33.2,F43.10") == 1
    assert total(f"/fhir/Condition?patient={pid}&code=F33.2") == 0
    assert total(f"/fhir/Condition?patient={pid}&clinical-status=active") == 1
    assert total(f"/fhir/MedicationRequest?patient={pid}&status=active&intent=order") == 1
    assert total(f"/fhir/MedicationRequest?patient={pid}&status=draft") == 0
    assert total(f"/fhir/MedicationRequest?patient={pid}&authoredon=ge{today}") == 1
    assert total(f"/fhir/MedicationRequest?patient={pid}&authoredon=lt{today}") == 0
    assert total(f"/fhir/Encounter?patient={pid}&status=in-progress") == 1
    assert total(f"/fhir/Encounter?patient={pid}&status=finished") == 0
    assert total(f"/fhir/Encounter?patient={pid}&date={today}") == 1
    assert total(f"/fhir/Encounter?subject=Patient/{pid}&date=lt{today}") == 0


def test_unknown_parameters_are_refused_and_subject_is_a_patient_reference(record, location):
    """Issue 22 point 7: `subject=` returned every patient's Observations; an unsupported
    parameter or modifier is 400 OperationOutcome (handling=strict) unless the client asks for
    lenient handling."""
    other = PatientFactory(home_location=location)
    add_weight(other, "70.0", timezone.localdate())
    client = api_client(record.nurse)
    pid = record.patient.pk
    subjects = {
        e["resource"]["subject"]["reference"]
        for e in client.get(f"/fhir/Observation?subject=Patient/{pid}").json()["entry"]
    }
    assert subjects == {f"Patient/{pid}"}
    for query in ("foo=1", "code:text=weight", f"patient={pid}&value-quantity=80"):
        refused = client.get(f"/fhir/Observation?{query}")
        assert refused.status_code == 400, query
        assert refused.json()["resourceType"] == "OperationOutcome"
    lenient = client.get(
        f"/fhir/Observation?patient={pid}&foo=1&code=29463-7",
        headers={"Prefer": "handling=lenient"},
    ).json()
    strict = client.get(f"/fhir/Observation?patient={pid}&code=29463-7").json()
    assert lenient["total"] == strict["total"] >= 1
    assert "foo" not in lenient["link"][0]["url"]


def test_comma_is_or_and_next_links_keep_repeated_date_filters(location):
    """Issue 22 point 7: `code=a,b` returned nothing; the next link dropped one of two `date`."""
    from datetime import date

    patient = PatientFactory(home_location=location)
    for day in (1, 2, 3, 4, 20):
        add_weight(patient, "70.0", date(2026, 11, day))
    client = api_client(make_user("nurse", location))
    both = client.get(f"/fhir/Observation?patient={patient.pk}&code=29463-7,8302-2").json()
    assert both["total"] == 5
    url = f"/fhir/Observation?patient={patient.pk}&date=ge2026-11-02&date=le2026-11-10&_count=2"
    first = client.get(url).json()
    assert first["total"] == 3
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert next_url.count("date=") == 2
    second = client.get(next_url).json()
    assert [e["resource"]["effectiveDateTime"] for e in second["entry"]] == ["2026-11-04"]
    month = client.get(f"/fhir/Observation?patient={patient.pk}&date=2026-11").json()
    assert month["total"] == 5
    assert client.get("/fhir/Observation?date=sa2026-11-01").status_code == 400


def test_unrouted_fhir_urls_answer_an_operation_outcome(record):
    """Issue 22 point 7: not the site's HTML 404."""
    client = api_client(record.nurse)
    for url in ("/fhir/Foo", "/fhir/Foo/1", "/fhir/Patient/1/_history", "/fhir/a/b/c/d"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response["Content-Type"] == "application/fhir+json"
        assert response.json()["resourceType"] == "OperationOutcome"
    posted = client.post("/fhir/Patient", data="{}", content_type="application/fhir+json")
    assert posted.status_code == 405
    assert posted.json()["resourceType"] == "OperationOutcome"


def test_capability_statement_declares_what_is_implemented(record):
    """Issue 22 point 7: read and search for every type served, and every search parameter it
    names is accepted (no 400)."""
    from infusionclinic.fhir.search import SEARCH_PARAMS

    statement = validate(Client().get("/fhir/metadata").json())
    declared = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(declared) == set(resource_types()) == set(SEARCH_PARAMS)
    client = api_client(record.prescriber)
    values = {"token": "x", "reference": str(record.patient.pk), "date": "2026", "string": "a"}
    for resource_type, entry in declared.items():
        assert {i["code"] for i in entry["interaction"]} == {"read", "search-type"}
        for param in entry["searchParam"]:
            response = client.get(f"/fhir/{resource_type}?{param['name']}={values[param['type']]}")
            assert response.status_code == 200, (resource_type, param, response.content[:200])


# --- Point 8: content ---------------------------------------------------------------------------


def test_orders_and_administrations_name_prescriber_and_nurse_as_practitioners(record):
    """Issue 22 point 8: MedicationRequest.requester (who signed) and
    MedicationAdministration.performer (who started the pump) are Practitioner references, and
    those Practitioners are served and validate."""
    client = api_client(record.nurse)
    everything = _everything(client, record.patient.pk)
    resources = {r["id"]: r for r in everything if r["resourceType"] != "Practitioner"}
    request = resources[f"order-{record.order.pk}"]
    assert request["requester"]["reference"] == f"Practitioner/{record.prescriber.pk}"
    given = resources[f"admin-{record.session.pk}"]
    assert given["performer"][0]["actor"]["reference"] == f"Practitioner/{record.nurse.pk}"
    practitioners = {r["id"] for r in everything if r["resourceType"] == "Practitioner"}
    assert {str(record.prescriber.pk), str(record.nurse.pk)} <= practitioners
    read = client.get(f"/fhir/Practitioner/{record.prescriber.pk}").json()
    assert read["name"][0]["text"] == record.prescriber.full_name
    stranger = make_user("prescriber", record.location)  # named in no record this nurse sees
    assert client.get(f"/fhir/Practitioner/{stranger.pk}").status_code == 404


def test_ketamine_is_coded_by_the_scd_setting_from_code_rx2(record):
    """Issue 22 point 8: the product's SCD (one of codes.md CODE-RX2's, chosen by the clinic
    because the file does not say which strength each is), not the ingredient 6130."""
    client = api_client(record.nurse)
    with override_settings(FHIR_KETAMINE_SCD_RXCUI="238083"):
        resources = _everything(client, record.patient.pk)
        by_code = client.get(f"/fhir/MedicationRequest?code=238083&patient={record.patient.pk}")
        assert by_code.json()["total"] == 1
    medications = [
        r["medicationCodeableConcept"]["coding"]
        for r in resources
        if r["resourceType"] in ("MedicationRequest", "MedicationAdministration")
        and r["id"].startswith(("order-", "admin-"))
    ]
    assert len(medications) == 2
    for coding in medications:
        assert [c["code"] for c in coding] == ["238083"]


def test_a_scd_setting_outside_code_rx2_fails_the_system_check():
    """Never a code typed from memory: start-up refuses an SCD codes.md does not list."""
    from infusionclinic.fhir.apps import check_ketamine_scd

    assert check_ketamine_scd() == []
    with override_settings(FHIR_KETAMINE_SCD_RXCUI="1234567"):
        (error,) = check_ketamine_scd()
    assert error.id == "fhir.E001"


def test_vitals_conditions_and_encounters_carry_the_us_core_elements(record):
    """Issue 22 point 8: vitals name their Encounter; Condition has verificationStatus;
    Encounter has participants (who started the pump) and its Location, which is served."""
    client = api_client(record.nurse)
    resources = _everything(client, record.patient.pk)
    encounter_ref = f"Encounter/session-{record.session.pk}"
    vitals = [r for r in resources if r["id"].startswith(("vs-", "vspanel-"))]
    assert vitals
    assert {v["encounter"]["reference"] for v in vitals} == {encounter_ref}
    (condition,) = [r for r in resources if r["resourceType"] == "Condition"]
    assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
    (encounter,) = [r for r in resources if r["resourceType"] == "Encounter"]
    performer = encounter["participant"][0]
    assert performer["type"][0]["coding"][0]["code"] == "PPRF"
    assert performer["individual"]["reference"] == f"Practitioner/{record.nurse.pk}"
    location_ref = encounter["location"][0]["location"]["reference"]
    assert location_ref == f"Location/{record.location.pk}"
    location = client.get(f"/fhir/{location_ref}").json()
    assert location["name"] == record.location.name


def _phq9(with_codes: bool) -> dict:
    import copy

    from infusionclinic.outcomes.instruments import read_definition_files

    definition = copy.deepcopy(next(d for d in read_definition_files() if d["code"] == "PHQ-9"))
    if with_codes:
        # Test-only codes in LOINC's format: the shipped files have none (scales.md gives none).
        for number, item in enumerate(definition["items"], start=1):
            item["loinc"] = f"9000{number}-{number}"
        for value, option in enumerate(definition["options"]):
            option["loinc"] = f"LA900{value}-{value}"
    return definition


def _response(definition: dict) -> dict:
    from datetime import UTC, datetime

    from infusionclinic.fhir.mapping import questionnaire_response_resource
    from infusionclinic.outcomes.scoring import parse_definition

    assessment = SimpleNamespace(
        pk=1,
        instrument=SimpleNamespace(spec=parse_definition(definition)),
        patient_id=5,
        completed_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        answers=[1, 0, 2, 3, 0, 1, 0, 0, 0],
    )
    return validate(questionnaire_response_resource(assessment))


def test_questionnaire_response_uses_the_loinc_forms_item_and_answer_codes_when_given():
    """Issue 22 point 8: linkIds "1".."9" with integers do not match the LOINC form the response
    named; with item codes in the data file the linkIds are those codes and the answers LOINC
    answer codings (with the score as ordinalValue)."""
    coded = _response(_phq9(with_codes=True))
    assert coded["questionnaire"] == "http://loinc.org/q/44249-1"
    assert [i["linkId"] for i in coded["item"]][:2] == ["90001-1", "90002-2"]
    answer = coded["item"][2]["answer"][0]["valueCoding"]
    assert (answer["system"], answer["code"], answer["display"]) == (
        "http://loinc.org",
        "LA9002-2",
        "More than half the days",
    )
    assert answer["extension"][0]["valueDecimal"] == 2


def test_questionnaire_response_without_item_codes_names_the_clinics_own_form():
    """Issue 22 point 8: scales.md gives no item codes, so the shipped PHQ-9 must not claim the
    LOINC form's linkIds: it names the clinic's instrument and version."""
    plain = _response(_phq9(with_codes=False))
    assert plain["questionnaire"] == "urn:infusionclinic:instrument:PHQ-9|1"
    assert [i["linkId"] for i in plain["item"]] == [str(n) for n in range(1, 10)]
    assert plain["item"][0]["text"] == "Loss of interest or pleasure in doing things"


def test_an_item_code_not_in_loincs_format_is_refused_at_load():
    from infusionclinic.outcomes.scoring import InstrumentDataError, parse_definition

    definition = _phq9(with_codes=True)
    definition["items"][0]["loinc"] = "PHQ9-1"
    with pytest.raises(InstrumentDataError, match="not a LOINC code"):
        parse_definition(definition)
