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


def test_a_session_maps_to_an_encounter_and_the_dose_given_to_a_medication_administration(
    nurse, session
):
    """codes.md §7: the infusion is a MedicationAdministration (RxNorm, dose in mg, rate in mL/h,
    period from the pump events) in the session's Encounter; both validate."""
    from datetime import timedelta

    from infusionclinic.infusions import services
    from infusionclinic.infusions.models import PumpEvent

    from .factories import infusing

    infusing(nurse, session)
    PumpEvent.objects.filter(session=session).update(
        at=session.pump.get().at - timedelta(minutes=40)
    )
    services.pump_event_record(actor=nurse, session=session, action="stop")
    patients = Patient.objects.filter(pk=session.patient_id)
    (encounter,) = (validate(r) for r in resources_for(patients, resource_type="Encounter"))
    assert encounter["status"] == "in-progress"  # recovering, not yet discharged
    (given,) = (
        validate(r) for r in resources_for(patients, resource_type="MedicationAdministration")
    )
    assert given["status"] == "completed"
    assert given["context"]["reference"] == f"Encounter/session-{session.pk}"
    dose = given["dosage"]["dose"]
    assert dose["code"] == "mg"
    # 40 min at the order's rate and concentration (RATE-7): the signed dose, within rounding.
    assert abs(dose["value"] - float(session.order.dose_mg)) <= 0.5


def test_each_reading_gives_its_four_observations_from_one_query(nurse, session):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    checked_in(nurse, session)
    vitals(nurse, session)
    vitals(nurse, session)
    patients = Patient.objects.filter(pk=session.patient_id)
    with CaptureQueriesContext(connection) as queries:
        ids = [
            r["id"]
            for r in resources_for(patients, resource_type="Observation", stream=False)
            if r["id"].startswith("vs-")
        ]
    first, second = session.vitals.order_by("pk")
    assert ids == [
        f"vs-{kind}-{reading.pk}"
        for reading in (first, second)
        for kind in ("bp", "hr", "rr", "spo2")
    ]
    assert sum("infusions_vitalsign" in q["sql"] for q in queries.captured_queries) == 1
