"""codes.md §2 (CODE-S) and §3 (CODE-DX) as the code ships them (issue 21 part 2: every code id
the product implements is pinned by a test that fails if the code or its mapping changes)."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from infusionclinic.fhir.mapping import score_observation_resource
from infusionclinic.fhir.resources import validate
from infusionclinic.outcomes.instruments import read_definition_files
from infusionclinic.outcomes.scoring import parse_definition
from infusionclinic.patients.icd10 import Icd10Error, icd10_lookup_billable, icd10_table


def _loinc() -> dict[str, dict]:
    return {d["code"]: d["loinc"] for d in read_definition_files()}


def _assessment(definition: dict, total: int = 7) -> SimpleNamespace:
    instrument = SimpleNamespace(spec=parse_definition(definition))
    return SimpleNamespace(
        pk=1,
        instrument=instrument,
        patient_id=5,
        completed_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        total=total,
        answers=[],
    )


def test_code_s1_s2_phq9_panel_44249_1_and_total_44261_6():
    assert _loinc()["PHQ-9"]["panel"] == "44249-1"
    assert _loinc()["PHQ-9"]["total"] == "44261-6"


def test_code_s3_s4_gad7_panel_69737_5_and_total_70274_6_not_the_panel():
    """CODE-S3, CODE-S4: the GAD-7 total is 70274-6; 69737-5 is the panel (the contradiction
    codes.md notes)."""
    assert _loinc()["GAD-7"]["panel"] == "69737-5"
    assert _loinc()["GAD-7"]["total"] == "70274-6"


def test_code_s5_s6_pcl5_total_and_pain_nrs_score():
    """CODE-S5 PCL-5 total 91006-2; CODE-S6 pain NRS 72514-3."""
    assert _loinc()["PCL-5"]["total"] == "91006-2"
    assert _loinc()["PAIN-NRS"]["total"] == "72514-3"


@pytest.mark.parametrize("code", ["PHQ-9", "GAD-7", "PCL-5", "PAIN-NRS"])
def test_code_s2_s4_s5_s6_score_observation_is_a_survey_coded_by_the_loinc_total(code):
    """CODE-S2, CODE-S4, CODE-S5, CODE-S6 on the score Observation (category survey)."""
    definition = next(d for d in read_definition_files() if d["code"] == code)
    resource = validate(score_observation_resource(_assessment(definition)))
    assert resource["category"][0]["coding"][0]["code"] == "survey"
    assert resource["code"]["coding"][0]["system"] == "http://loinc.org"
    assert resource["code"]["coding"][0]["code"] == definition["loinc"]["total"]


def test_code_s7_an_instrument_without_a_confirmed_loinc_code_gets_the_clinic_local_code():
    """CODE-S7: MADRS, QIDS-SR16, CADSS, Aldrete, PADSS have no confirmed code: a clinic-local
    code system."""
    definition = next(d for d in read_definition_files() if d["code"] == "PHQ-9")
    madrs = {**definition, "code": "MADRS", "name": "MADRS", "loinc": {}}
    resource = validate(score_observation_resource(_assessment(madrs)))
    (coding,) = resource["code"]["coding"]
    assert coding == {"system": "urn:infusionclinic:instrument", "code": "MADRS"}


# ICD-10-CM (codes.md §3): each listed code is billable in the shipped table with its rule id.
DX_CODES = {
    "CODE-DX1": ["F32.0", "F32.1", "F32.2", "F32.3"],
    "CODE-DX2": ["F32.4", "F32.5", "F32.9", "F32.A"],
    "CODE-DX3": ["F33.0", "F33.1", "F33.2", "F33.3"],
    "CODE-DX4": ["F33.40", "F33.41", "F33.42"],
    "CODE-DX5": ["F33.8", "F33.9"],
    "CODE-DX6": ["F43.10", "F43.11", "F43.12"],
    "CODE-DX7": ["F41.1"],
    "CODE-DX8": ["F41.9"],
    "CODE-DX9": ["M79.7"],
    "CODE-DX10": ["G90.50"],
    "CODE-DX11": ["G90.511", "G90.512", "G90.513", "G90.519"],
    "CODE-DX12": ["G90.521", "G90.522", "G90.523", "G90.529"],
    "CODE-DX13": ["G90.59"],
    "CODE-DX14": ["G56.40", "G56.41", "G56.42", "G56.43", "G57.70", "G57.71", "G57.72"],
    "CODE-DX15": ["G89.4"],
    "CODE-DX16": ["G89.29"],
    "CODE-DX17": ["F31.9", "F20.9", "F25.9"],
}


@pytest.mark.parametrize("rule", sorted(DX_CODES))
def test_code_dx1_to_dx17_each_listed_code_is_billable_under_its_rule(rule):
    for code in DX_CODES[rule]:
        entry = icd10_lookup_billable(code)
        assert entry.billable
        assert entry.rule == rule, code


def test_code_dx11_dx_r1_the_categories_are_refused():
    """G90.51 and F43.1 are categories (codes.md CODE-DX11 'G90.51 itself not billable')."""
    for category in ("G90.51", "F43.1", "G90.5", "F32", "F33"):
        assert not icd10_table()[category].billable
        with pytest.raises(Icd10Error, match="CODE-DX-R1"):
            icd10_lookup_billable(category)


@pytest.mark.django_db
def test_code_v12_bmi_observation_from_weight_and_the_height_before_it(location):
    """CODE-V12: BMI 39156-5 in kg/m2, from each weight and the latest height measured on or
    before its date (WT-4 kg/m²), derived from both; a weight with no earlier height has none."""
    from datetime import date

    from infusionclinic.fhir.resources import resources_for
    from infusionclinic.patients import services
    from infusionclinic.patients.models import Patient
    from tests.factories import PatientFactory, add_weight, make_user

    patient = PatientFactory(home_location=location)
    early = add_weight(patient, "110.0", date(2026, 10, 1))  # before any height: no BMI
    height = services.measurement_record(
        actor=make_user("nurse", location),
        patient=patient,
        kind="height",
        value=165,
        unit="cm",
        measured_on=date(2026, 10, 5),
    )
    weight = add_weight(patient, "110.0", date(2026, 11, 1))
    patients = Patient.objects.filter(pk=patient.pk)
    bmis = [
        validate(r)
        for r in resources_for(patients, resource_type="Observation")
        if r["id"].startswith("bmi-")
    ]
    assert [r["id"] for r in bmis] == [f"bmi-{weight.pk}"]
    (bmi,) = bmis
    assert bmi["code"]["coding"][0]["code"] == "39156-5"
    assert bmi["valueQuantity"] == {
        "value": 40.4,  # dosing.md Ex 4: 110 / 1.65² = 40.4
        "unit": "kg/m2",
        "system": "http://unitsofmeasure.org",
        "code": "kg/m2",
    }
    assert bmi["category"][0]["coding"][0]["code"] == "vital-signs"
    assert bmi["derivedFrom"] == [
        {"reference": f"Observation/bm-{weight.pk}"},
        {"reference": f"Observation/bm-{height.pk}"},
    ]
    assert early.pk != weight.pk
