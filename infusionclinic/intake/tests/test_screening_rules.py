"""Every screening rule by its id (../shared/domain/protocol.md §2-3): it fires on its
condition with its severity, and not on a clean input. Pure: no database."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from infusionclinic.intake import screening
from infusionclinic.intake.screening import ScreeningInput, Trial, evaluate

TODAY = date(2026, 11, 25)
NO = dict.fromkeys(screening.REQUIRED_ANSWERS + screening.PREGNANCY_ANSWERS, False)
NO["hepatic_disease"] = "none"

CLEAN = ScreeningInput(
    birth_date=date(1980, 5, 17),
    today=TODAY,
    sex_at_birth="male",
    answers=NO,
    diagnosis_codes=("F43.10",),  # PTSD: an accepted indication (PROT-1), no TRD rule
    medication_text="sertraline 100 mg",
    weight_kg=Decimal("70"),
    height_cm=Decimal("175"),
    systolic_mmhg=120,
    diastolic_mmhg=80,
    escort_named=True,
)


def _with(**changes) -> ScreeningInput:
    answers = {**CLEAN.answers, **changes.pop("answers", {})}
    return dataclasses.replace(CLEAN, answers=answers, **changes)


def _ids(inp: ScreeningInput) -> dict[str, str]:
    return {f.rule_id: f.severity for f in evaluate(inp).findings}


def _adequate(n: int, **overrides) -> tuple[Trial, ...]:
    base = {
        "kind": "antidepressant",
        "name": "drug",
        "weeks": 8,
        "dose_adequate": True,
        "current_episode": True,
        "outcome": "no_response",
    }
    return tuple(Trial(**{**base, "name": f"drug{i}", **overrides}) for i in range(n))


def test_a_clean_input_is_eligible_with_only_the_resistance_count_shown():
    result = evaluate(CLEAN)
    assert result.status == "eligible"
    assert _ids(CLEAN) == {"PROT-2": "info"}


def test_every_elig_rule_of_the_protocol_is_in_the_rule_table():
    ids = set(screening.rule_table().rules)
    expected = {f"ELIG-A{i}" for i in range(1, 11)} | {f"ELIG-B{i}" for i in range(1, 9)}
    expected |= {"ELIG-C1", "ELIG-C2", "ELIG-C3"}
    assert expected <= ids
    levels = {"A": "absolute", "B": "relative", "C": "info"}
    for rule_id in expected:
        assert screening.rule_table().rules[rule_id].severity == levels[rule_id[5]]


CASES = [
    ("ELIG-A1", {"answers": {"ketamine_hypersensitivity": True}}),
    ("ELIG-A2", {"answers": {"aneurysm_avm_or_brain_bleed": True}}),
    ("ELIG-A3", {"answers": {"uncontrolled_hypertension": True}}),
    ("ELIG-A4", {"answers": {"unstable_heart_disease": True}}),
    ("ELIG-A5", {"answers": {"current_psychosis": True}}),
    ("ELIG-A6", {"answers": {"current_mania": True}}),
    ("ELIG-A7", {"answers": {"pregnant": True}}),
    ("ELIG-A8", {"answers": {"hepatic_disease": "severe"}}),
    ("ELIG-A9", {"answers": {"takes_theophylline": True}}),
    ("ELIG-A10", {"birth_date": date(2009, 1, 1)}),
    ("ELIG-B1", {"answers": {"substance_use_active": True}}),
    ("ELIG-B2", {"answers": {"substance_use_history": True}}),
    ("ELIG-B3", {"answers": {"psychosis_history": True}}),
    ("ELIG-B4", {"answers": {"bipolar_disorder": True}}),
    ("ELIG-B5", {"answers": {"hepatic_disease": "moderate"}}),
    ("ELIG-B6", {"answers": {"raised_eye_or_brain_pressure": True}}),
    ("ELIG-B7", {"answers": {"urinary_symptoms": True}}),
    ("ELIG-B8", {"answers": {"breastfeeding": True}}),
    ("ELIG-C1", {"answers": {"takes_cns_depressants": True}}),
    ("ELIG-C2", {"answers": {"takes_stimulants_or_maoi": True}}),
    ("ELIG-C3", {"weight_kg": Decimal("92"), "height_cm": Decimal("175")}),
    ("PROT-1", {"diagnosis_codes": ("F41.1",)}),
    ("PROT-3", {"answers": {"current_mania": None}}),
    ("PROT-5", {"diagnosis_codes": ("F33.2",), "trials": _adequate(1)}),
    ("PRE-1", {"answers": {"alcohol_misuse_or_hepatitis": True}}),
    ("PRE-2", {"sex_at_birth": "female"}),
    ("PRE-3", {"answers": {"substance_use_history": True}}),
    ("PRE-5", {"escort_named": False}),
]
STATUS = {"absolute": "ineligible", "relative": "needs_review", "info": "eligible"}


@pytest.mark.parametrize(("rule_id", "change"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires_on_its_condition_with_its_severity(rule_id, change):
    findings = _ids(_with(**change))
    severity = screening.rule_table().rules[rule_id].severity
    assert findings.get(rule_id) == severity
    assert rule_id not in _ids(CLEAN)
    # The status follows the most severe finding.
    assert (
        evaluate(_with(**change)).status
        == STATUS[max(findings.values(), key=["info", "relative", "absolute"].index)]
    )


def test_every_rule_in_the_table_has_a_case_here():
    assert {c[0] for c in CASES} | {"PROT-2"} == set(screening.rule_table().rules)


def test_elig_a3_fires_on_baseline_bp_at_the_mon_bp_2_gate(settings):
    assert "ELIG-A3" in _ids(_with(systolic_mmhg=180, diastolic_mmhg=80))
    assert "ELIG-A3" in _ids(_with(systolic_mmhg=130, diastolic_mmhg=110))
    assert "ELIG-A3" not in _ids(_with(systolic_mmhg=179, diastolic_mmhg=109))
    settings.SCREENING_UNCONTROLLED_SBP_MMHG = 170
    assert "ELIG-A3" in _ids(_with(systolic_mmhg=175, diastolic_mmhg=80))


def test_elig_a5_fires_on_a_depression_code_with_psychotic_features():
    assert _ids(_with(diagnosis_codes=("F33.3",)))["ELIG-A5"] == "absolute"
    assert "ELIG-A5" not in _ids(_with(diagnosis_codes=("F33.2",)))


def test_elig_b3_and_b4_fire_on_schizophrenia_spectrum_and_bipolar_codes():
    assert "ELIG-B3" in _ids(_with(diagnosis_codes=("F43.10", "F20.9")))
    assert "ELIG-B4" in _ids(_with(diagnosis_codes=("F31.9",)))


def test_elig_a9_and_c1_fire_on_the_medication_list_even_if_the_question_says_no():
    findings = evaluate(_with(medication_text="Theophylline ER 300 mg\nLorazepam 1 mg prn"))
    by_id = {f.rule_id: f for f in findings.findings}
    assert by_id["ELIG-A9"].evidence == "medication theophylline"
    assert "lorazepam" in by_id["ELIG-C1"].evidence
    assert findings.status == "ineligible"


def test_elig_a10_turns_off_on_the_18th_birthday():
    assert "ELIG-A10" in _ids(_with(birth_date=date(2008, 11, 26)))
    assert "ELIG-A10" not in _ids(_with(birth_date=date(2008, 11, 25)))


def test_elig_c3_bmi_30_is_the_edge():
    # 30.0 exactly: 91.875 kg at 175 cm.
    assert "ELIG-C3" in _ids(_with(weight_kg=Decimal("91.9"), height_cm=Decimal("175")))
    assert "ELIG-C3" not in _ids(_with(weight_kg=Decimal("91.5"), height_cm=Decimal("175")))


def test_pregnancy_questions_are_not_required_of_patients_recorded_male():
    answers = {k: v for k, v in NO.items() if k not in screening.PREGNANCY_ANSWERS}
    assert "PROT-3" not in _ids(dataclasses.replace(CLEAN, answers=answers))
    female = dataclasses.replace(CLEAN, answers=answers, sex_at_birth="female")
    assert "PROT-3" in _ids(female)


def test_prot_2_counts_only_adequate_failed_antidepressant_trials_of_this_episode(settings):
    settings.INTAKE_ADEQUATE_TRIAL_MIN_WEEKS = 6
    trials = (
        *_adequate(2),
        *_adequate(1, weeks=4),  # too short
        *_adequate(1, dose_adequate=False),
        *_adequate(1, dose_adequate=None),  # not judged
        *_adequate(1, outcome="response"),
        *_adequate(1, current_episode=False),
        *_adequate(1, kind="psychotherapy"),
    )
    result = evaluate(_with(trials=trials))
    assert result.resistance_count == 2
    prot2 = next(f for f in result.findings if f.rule_id == "PROT-2")
    assert "2 adequate antidepressant trial(s)" in prot2.message
    assert "is met" in prot2.message


def test_prot_5_is_settled_by_two_adequate_failed_trials_for_depression():
    depressed = _with(diagnosis_codes=("F33.2",), trials=_adequate(2))
    assert "PROT-5" not in _ids(depressed)
    assert evaluate(depressed).status == "eligible"


@hsettings(max_examples=50, deadline=None)
@given(
    weeks=st.integers(min_value=1, max_value=60),
    n=st.integers(min_value=0, max_value=5),
)
def test_prot_2_count_is_the_trials_at_or_above_the_minimum_weeks(weeks, n):
    from django.conf import settings as django_settings

    count = evaluate(_with(trials=_adequate(n, weeks=weeks))).resistance_count
    assert count == (n if weeks >= django_settings.INTAKE_ADEQUATE_TRIAL_MIN_WEEKS else 0)


@hsettings(max_examples=50, deadline=None)
@given(
    weight=st.decimals(min_value=30, max_value=250, places=1),
    height=st.decimals(min_value=120, max_value=220, places=1),
)
def test_elig_c3_fires_exactly_when_bmi_is_30_or_more(weight, height):
    value = screening.bmi(weight, height)
    assert value == (weight / (height / 100) ** 2).quantize(Decimal("0.1"))
    assert ("ELIG-C3" in _ids(_with(weight_kg=weight, height_cm=height))) == (value >= 30)
