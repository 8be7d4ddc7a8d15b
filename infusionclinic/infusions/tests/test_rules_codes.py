"""codes.md §1 and §6 on the session vital signs as FHIR Observations (issue 21 part 2: each
CODE-V / CODE-SCT id the code implements is pinned by a test that fails if the code changes)."""

from infusionclinic.fhir.resources import resources_for, validate
from infusionclinic.patients.models import Patient

from .factories import checked_in, infusing, vitals


def _observations(session) -> dict[str, dict]:
    patients = Patient.objects.filter(pk=session.patient_id)
    return {
        r["id"].split("-")[1]: validate(r)
        for r in resources_for(patients, resource_type="Observation")
        if r["id"].startswith("vs-")
    }


def test_code_v5_v6_heart_and_respiratory_rate_loinc_and_ucum_per_min(nurse, session):
    checked_in(nurse, session)
    vitals(nurse, session, heart_rate_bpm=72, respiratory_rate=14)
    found = _observations(session)
    assert found["hr"]["code"]["coding"][0]["code"] == "8867-4"  # CODE-V5
    assert found["hr"]["valueQuantity"] == {
        "value": 72,
        "unit": "/min",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    assert found["rr"]["code"]["coding"][0]["code"] == "9279-1"  # CODE-V6
    assert found["rr"]["valueQuantity"]["value"] == 14
    assert found["rr"]["valueQuantity"]["code"] == "/min"
    assert all(o["category"][0]["coding"][0]["code"] == "vital-signs" for o in found.values())


def test_code_v7_v8_spo2_sends_both_codings_in_percent(nurse, session):
    """CODE-V7 2708-6 and CODE-V8 59408-5, both sent (US Core pulse oximetry), unit %."""
    checked_in(nurse, session)
    vitals(nurse, session, spo2_pct=96)
    spo2 = _observations(session)["spo2"]
    codings = [(c["system"], c["code"]) for c in spo2["code"]["coding"]]
    assert codings == [("http://loinc.org", "2708-6"), ("http://loinc.org", "59408-5")]
    assert spo2["valueQuantity"]["value"] == 96
    assert spo2["valueQuantity"]["code"] == "%"


def test_code_sct1_spo2_is_measured_by_a_pulse_oximeter_snomed_448703006(nurse, session):
    """CODE-SCT1: the SpO2 Observation names its device, SNOMED CT 448703006."""
    checked_in(nurse, session)
    vitals(nurse, session)
    spo2 = _observations(session)["spo2"]
    (device,) = spo2["contained"]
    assert spo2["device"] == {"reference": f"#{device['id']}"}
    assert device["type"]["coding"] == [
        {"system": "http://snomed.info/sct", "code": "448703006", "display": "Pulse oximeter"}
    ]
    # Only the SpO2 reading names the oximeter.
    assert "device" not in _observations(session)["hr"]


def test_code_sct2_ketamine_is_coded_in_rxnorm_never_snomed(nurse, session):
    """CODE-SCT2: no SNOMED CT code is confirmed for the ketamine product or its
    administration, so none is sent."""
    infusing(nurse, session)
    patients = Patient.objects.filter(pk=session.patient_id)
    (admin,) = resources_for(patients, resource_type="MedicationAdministration")
    systems = {c["system"] for c in admin["medicationCodeableConcept"]["coding"]}
    assert systems == {"http://www.nlm.nih.gov/research/umls/rxnorm"}


def test_code_v1_a_reading_is_a_vital_signs_panel_85353_1_with_its_members(nurse, session):
    """CODE-V1: the panel's members are the reading's BP, HR, RR and SpO2 Observations, each of
    which is exported too; the panel is found by its code."""
    checked_in(nurse, session)
    vitals(nurse, session)
    patients = Patient.objects.filter(pk=session.patient_id)
    resources = [validate(r) for r in resources_for(patients, resource_type="Observation")]
    (panel,) = [r for r in resources if r["id"].startswith("vspanel-")]
    assert panel["code"]["coding"][0]["code"] == "85353-1"
    assert panel["category"][0]["coding"][0]["code"] == "vital-signs"
    ids = {f"Observation/{r['id']}" for r in resources}
    members = [m["reference"] for m in panel["hasMember"]]
    assert len(members) == 4
    assert set(members) <= ids


def test_code_v1_observation_search_by_the_panel_code(nurse, session):
    from tests.factories import api_client

    checked_in(nurse, session)
    vitals(nurse, session)
    r = api_client(nurse).get(f"/fhir/Observation?patient={session.patient_id}&code=85353-1")
    assert r.status_code == 200
    assert [e["resource"]["id"] for e in r.json()["entry"]] == [
        f"vspanel-{session.vitals.get().pk}"
    ]
