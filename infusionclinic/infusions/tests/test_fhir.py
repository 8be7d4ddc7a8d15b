"""Session vital signs as FHIR Observations (codes.md CODE-V2..V8, UCUM units)."""

from infusionclinic.fhir.resources import resources_for, validate
from infusionclinic.patients.models import Patient
from tests.factories import api_client

from .factories import checked_in, vitals


def test_vitals_map_to_valid_observations_with_loinc_and_ucum(nurse, session):
    checked_in(nurse, session)
    vitals(nurse, session, systolic_mmhg=131, diastolic_mmhg=82, spo2_pct=97)
    patients = Patient.objects.filter(pk=session.patient_id)
    found = {
        r["id"].split("-")[1]: validate(r)
        for r in resources_for(patients, resource_type="Observation")
        if r["id"].startswith("vs-")
    }
    assert set(found) == {"bp", "hr", "rr", "spo2"}
    bp = found["bp"]
    assert bp["code"]["coding"][0]["code"] == "85354-9"  # CODE-V2
    components = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp["component"]}
    assert components["8480-6"]["value"] == 131  # CODE-V3
    assert components["8462-4"]["value"] == 82  # CODE-V4
    assert components["8480-6"]["code"] == "mm[Hg]"
    assert [c["code"] for c in found["spo2"]["code"]["coding"]] == ["2708-6", "59408-5"]
    assert found["hr"]["valueQuantity"]["code"] == "/min"
    assert found["spo2"]["valueQuantity"]["code"] == "%"


def test_fhir_observation_search_by_bp_panel_code(nurse, session):
    checked_in(nurse, session)
    vitals(nurse, session)
    client = api_client(nurse)
    r = client.get(f"/fhir/Observation?patient={session.patient_id}&code=85354-9")
    assert r.status_code == 200, r.content[:300]
    ids = [e["resource"]["id"] for e in r.json().get("entry", [])]
    assert ids == [f"vs-bp-{session.vitals.get().pk}"]
