"""dosing.md rule by rule (issue 21 part 2: every implemented id is pinned by a test that fails
when the rule breaks): units and their precision (DOSE-U3..U7), the weight basis (WT-1, WT-4,
WT-6, WT-7), mood dosing (DOSE-2, DOSE-4), pain dosing (DOSE-P1, DOSE-P2, DOSE-P4) and the pump
arithmetic (RATE-2, RATE-5, RATE-6). Numeric rules are property tests where they fit."""

from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from infusionclinic.dosing import services
from infusionclinic.dosing.calculator import (
    DEFAULT_LIMITS,
    DoseInput,
    DoseInputError,
    DosingLimits,
    DosingSex,
    Indication,
    Severity,
    WeightBasis,
    adjusted_body_weight,
    bag_concentration,
    bmi,
    calculate,
    ideal_body_weight,
    vial_draw_ml,
)
from infusionclinic.dosing.conf import dosing_limits
from tests.factories import PatientFactory, add_weight

from .factories import STANDARD, add_height


def mood(**kw):
    base = {
        "weight_kg": D(80),
        "sex": DosingSex.FEMALE,
        "indication": Indication.DEPRESSION,
        "duration_min": D(40),
        "concentration_mg_per_ml": D(1),
        "dose_mg_per_kg": D("0.5"),
    }
    return DoseInput(**{**base, **kw})


def pain(**kw):
    base = {
        "weight_kg": D(70),
        "sex": DosingSex.MALE,
        "indication": Indication.PAIN,
        "duration_min": D(240),
        "concentration_mg_per_ml": D(1),
        "dose_mg_per_kg_per_h": D("0.5"),
    }
    return DoseInput(**{**base, **kw})


def ids(calc, severity=None):
    return {f.rule_id for f in calc.findings if severity is None or f.severity is severity}


def exponent(value: D) -> int:
    return value.as_tuple().exponent


weights = st.decimals(min_value=D(30), max_value=D(250), places=1)
per_kg = st.decimals(min_value=D("0.1"), max_value=D("1.0"), places=3)
durations = st.integers(min_value=20, max_value=240).map(D)
concs = st.sampled_from([D("0.5"), D(1), D("1.5"), D(2)])
heights = st.decimals(min_value=D(120), max_value=D(220), places=1)
sexes = st.sampled_from(list(DosingSex))


# --- §1 Units (DOSE-U) -------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(weight=weights, dose=per_kg, minutes=durations)
def test_dose_u3_u4_u7_precision_mg_per_kg_3_places_mg_1_place(weight, dose, minutes):
    """DOSE-U3 mg/kg and DOSE-U7 mg/kg/h to 3 decimals; DOSE-U4 total dose to 0.1 mg."""
    calc = calculate(mood(weight_kg=weight, dose_mg_per_kg=dose, duration_min=minutes))
    assert exponent(calc.dose_mg) == -1
    assert exponent(calc.dose_rate_mg_per_kg_per_h) == -3
    assert calc.dose_mg == (dose * weight).quantize(D("0.1"), rounding=ROUND_HALF_UP)


def test_dose_u3_more_than_3_decimals_of_mg_per_kg_are_refused(prescriber, patient):
    """DOSE-U3: Decimal(5,3); a fourth decimal is an input error, not silently rounded."""
    with pytest.raises(ValidationError) as err:
        services.dosing_order_create(
            actor=prescriber, patient=patient, **{**STANDARD, "dose_mg_per_kg": "0.4567"}
        )
    assert "dose_mg_per_kg" in err.value.message_dict
    order = services.dosing_order_create(
        actor=prescriber, patient=patient, **{**STANDARD, "dose_mg_per_kg": "0.456"}
    )
    order.refresh_from_db()
    assert order.dose_mg_per_kg == D("0.456")
    assert order.dose_mg == D("36.5")  # DOSE-U4: 0.456 × 80 = 36.48 → 36.5 mg


def test_dose_u5_concentration_is_kept_as_given_mg_per_ml(prescriber, patient):
    """DOSE-U5: concentration in mg/mL as a Decimal (0.4 mg/mL of Ex 2 kept exactly)."""
    order = services.dosing_order_create(
        actor=prescriber, patient=patient, **{**STANDARD, "concentration_mg_per_ml": "0.4"}
    )
    order.refresh_from_db()
    assert order.concentration_mg_per_ml == D("0.4")
    assert order.rate_ml_per_h == D(150)  # Ex 2


@settings(max_examples=40, deadline=None)
@given(
    weight=weights,
    dose=per_kg,
    minutes=durations,
    step=st.sampled_from([D("0.1"), D("0.5"), D(1)]),
)
def test_dose_u6_pump_rate_is_rounded_to_the_pump_resolution(weight, dose, minutes, step):
    """DOSE-U6: the pump rate in mL/h rounded to the pump's resolution (setting, default 0.1),
    within half a step of the exact rate."""
    limits = DosingLimits(pump_resolution_ml_per_h=step, reverse_check_tolerance_pct=D(100))
    calc = calculate(mood(weight_kg=weight, dose_mg_per_kg=dose, duration_min=minutes), limits)
    exact = dose * weight / D(1) / (minutes / 60)
    assert calc.rate_ml_per_h % step == 0
    assert abs(calc.rate_ml_per_h - exact) <= step / 2


def test_dose_u6_default_resolution_is_0_1_ml_per_h_and_a_setting():
    """DOSE-U6 ⚠️: default 0.1 mL/h; a clinic changes it through DOSING_LIMITS."""
    assert DEFAULT_LIMITS.pump_resolution_ml_per_h == D("0.1")
    with override_settings(DOSING_LIMITS={"pump_resolution_ml_per_h": "0.5"}):
        assert dosing_limits().pump_resolution_ml_per_h == D("0.5")


def test_dose_u7_pain_order_stores_its_dose_rate_in_mg_per_kg_per_h(prescriber, patient):
    """DOSE-U7 (pain): the order keeps mg/kg/h, not mg/kg."""
    order = services.dosing_order_create(
        actor=prescriber,
        patient=patient,
        **{
            **STANDARD,
            "indication": "pain",
            "dose_mg_per_kg": None,
            "dose_mg_per_kg_per_h": "0.5",
            "duration_min": 240,
        },
    )
    order.refresh_from_db()
    assert (order.dose_mg_per_kg, order.dose_mg_per_kg_per_h) == (None, D("0.500"))
    assert order.dose_rate_mg_per_kg_per_h == D("0.500")
    assert order.dose_mg == D(160)  # 0.5 × 80 × 4 h (DOSE-P5)


# --- §2 Which body weight (WT-) ----------------------------------------------------------------


@pytest.mark.parametrize("basis", ["actual", "ideal", "adjusted"])
def test_wt1_every_order_records_its_basis_and_the_kg_value_used(prescriber, location, basis):
    """WT-1: weight_basis ∈ {actual, ideal, adjusted} and the kg value used (Ex 4's table)."""
    p = PatientFactory(home_location=location)
    add_weight(p, "110.0", timezone.localdate())
    add_height(p, "165.0")
    order = services.dosing_order_create(
        actor=prescriber, patient=p, **{**STANDARD, "weight_basis": basis}
    )
    order.refresh_from_db()
    expected = {"actual": D("110.0"), "ideal": D("56.9"), "adjusted": D("78.1")}[basis]
    assert (order.weight_basis, order.weight_kg, order.dosing_weight_kg) == (
        basis,
        D("110.0"),
        expected,
    )
    assert order.weight_measurement_id is not None
    assert "WT-1" in order.rule_ids


def test_wt1_an_unknown_basis_is_refused(prescriber, patient):
    """WT-1: only the three bases exist."""
    with pytest.raises(ValidationError) as err:
        services.dosing_order_create(
            actor=prescriber, patient=patient, **{**STANDARD, "weight_basis": "lean"}
        )
    assert "weight_basis" in err.value.message_dict


@settings(max_examples=40, deadline=None)
@given(weight=weights, height=heights)
def test_wt4_bmi_is_kg_per_square_metre(weight, height):
    """WT-4: BMI = kg / m² (Ex 4: 110 kg, 165 cm → 40.4)."""
    value = bmi(weight_kg=weight, height_cm=height)
    assert abs(value * (height / 100) ** 2 - weight) < D("1e-20")
    calc = calculate(mood(weight_kg=weight, height_cm=height))
    assert calc.bmi == value.quantize(D("0.1"), rounding=ROUND_HALF_UP)
    assert bmi(weight_kg=D(110), height_cm=D(165)).quantize(D("0.1")) == D("40.4")


@settings(max_examples=60, deadline=None)
@given(actual=weights, height=heights, sex=sexes)
def test_wt6_adjusted_weight_is_ibw_plus_40_percent_of_the_excess(actual, height, sex):
    """WT-6: AdjBW = IBW + 0.4 × (actual − IBW) only when actual > IBW, otherwise actual; so it
    lies between IBW and actual."""
    ibw, _ = ideal_body_weight(height_cm=height, sex=sex)
    adjusted = adjusted_body_weight(actual_kg=actual, ideal_kg=ibw)
    if actual > ibw:
        assert adjusted == ibw + D("0.4") * (actual - ibw)
        assert ibw < adjusted < actual
    else:
        assert adjusted == actual
    calc = calculate(
        mood(weight_kg=actual, height_cm=height, sex=sex, weight_basis=WeightBasis.ADJUSTED)
    )
    assert calc.dosing_weight_kg == adjusted.quantize(D("0.1"), rounding=ROUND_HALF_UP)


@settings(max_examples=40, deadline=None)
@given(height=st.decimals(min_value=D("152.5"), max_value=D(220), places=1))
def test_wt7_ibw_uses_the_sex_chosen_for_dosing(height):
    """WT-7: the dosing sex picks the Devine base: male 50 kg, female 45.5 kg, so above 60 in the
    male IBW is 4.5 kg higher at the same height."""
    male, _ = ideal_body_weight(height_cm=height, sex=DosingSex.MALE)
    female, _ = ideal_body_weight(height_cm=height, sex=DosingSex.FEMALE)
    assert abs(male - female - D("4.5")) < D("1e-20")  # to Decimal's 28 digits


def test_wt7_order_records_the_dosing_sex_and_refuses_anything_else(prescriber, location):
    """WT-7: recorded on the order (separately from gender identity); only female/male."""
    p = PatientFactory(home_location=location)
    add_weight(p, "90.0", timezone.localdate())
    add_height(p, "178.0")
    male = services.dosing_order_create(
        actor=prescriber,
        patient=p,
        **{**STANDARD, "weight_basis": "ideal", "sex_for_dosing": "male"},
    )
    assert (male.sex_for_dosing, male.dosing_weight_kg) == ("male", D("73.2"))  # Ex 6
    with pytest.raises(ValidationError) as err:
        services.dosing_order_create(
            actor=prescriber, patient=p, **{**STANDARD, "sex_for_dosing": "nonbinary"}
        )
    assert "sex_for_dosing" in err.value.message_dict


# --- §3 Mood dosing ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(dose=per_kg)
def test_dose2_the_studied_range_0_1_to_1_0_is_orderable(dose):
    """DOSE-2: 0.1-1.0 mg/kg (Fava 2018) never hard-stops; only above the usual 0.75 does
    signing need a reason (LIM-3)."""
    calc = calculate(mood(dose_mg_per_kg=dose))
    assert not calc.blocked
    assert ("LIM-3" in ids(calc, Severity.WARNING)) == (dose > D("0.75"))
    assert "LIM-5" not in ids(calc)


@pytest.mark.parametrize(("dose", "rule"), [(D("0.099"), "LIM-5"), (D("1.001"), "LIM-4")])
def test_dose2_just_outside_the_studied_range_is_flagged(dose, rule):
    """DOSE-2's bounds: below 0.1 warns (LIM-5), above 1.0 hard-stops (LIM-4)."""
    assert rule in ids(calculate(mood(dose_mg_per_kg=dose)))


@pytest.mark.parametrize("minutes", [40, 41, 60, 100])
def test_dose4_40_to_100_minutes_raise_no_duration_warning(minutes):
    """DOSE-4: default 40 min; 40-100 min allowed without warning."""
    calc = calculate(mood(duration_min=D(minutes)))
    assert "LIM-6" not in ids(calc)
    assert not calc.warnings


@pytest.mark.parametrize("minutes", [2, 20, 39])
def test_dose4_under_40_minutes_warns_about_rapid_administration(minutes):
    """DOSE-4: < 40 min → warning (rapid IV: respiratory depression, pressor response)."""
    calc = calculate(mood(duration_min=D(minutes)))
    [finding] = [f for f in calc.findings if f.rule_id == "LIM-6"]
    assert finding.severity is Severity.WARNING
    assert "DOSE-4" in finding.message


def test_dose4_a_new_order_defaults_to_40_minutes():
    """DOSE-4: the default duration of the built-in mood protocols is 40 min."""
    import json
    from pathlib import Path

    from infusionclinic import courses

    data = json.loads((Path(courses.__file__).parent / "data" / "protocols.json").read_text())
    mood_protocols = [p for p in data["protocols"] if p.get("indication", "") != "pain"]
    assert mood_protocols
    assert {p["default_duration_min"] for p in mood_protocols} == {40}


# --- §4 Pain dosing ----------------------------------------------------------------------------


@pytest.mark.parametrize("bolus", [D(0), D("0.1"), D("0.35")])
def test_dose_p1_bolus_up_to_0_35_mg_per_kg_is_allowed(bolus):
    """DOSE-P1: optional bolus up to 0.35 mg/kg."""
    assert "LIM-7" not in ids(calculate(pain(bolus_mg_per_kg=bolus)))


def test_dose_p1_bolus_above_0_35_stops_and_a_mood_order_has_no_bolus():
    """DOSE-P1: above 0.35 mg/kg is a hard stop (LIM-7); a bolus belongs to pain orders only."""
    assert "LIM-7" in ids(calculate(pain(bolus_mg_per_kg=D("0.351"))), Severity.HARD_STOP)
    with pytest.raises(DoseInputError) as err:
        calculate(mood(bolus_mg_per_kg=D("0.1")))
    assert err.value.field == "bolus_mg_per_kg"


@settings(max_examples=60, deadline=None)
@given(rate=st.decimals(min_value=D("0.5"), max_value=D("2.0"), places=3))
def test_dose_p2_infusion_0_5_to_2_mg_per_kg_per_h_is_orderable(rate):
    """DOSE-P2: 0.5-2 mg/kg/h is the outpatient range: no hard stop."""
    assert not calculate(pain(dose_mg_per_kg_per_h=rate)).blocked


@settings(max_examples=40, deadline=None)
@given(rate=st.decimals(min_value=D("2.001"), max_value=D(7), places=3))
def test_dose_p2_above_2_mg_per_kg_per_h_is_never_outpatient(rate):
    """DOSE-P2: up to 7 mg/kg/h only in ICU, never in this product: above 2 is a hard stop."""
    calc = calculate(pain(dose_mg_per_kg_per_h=rate))
    assert "LIM-8" in ids(calc, Severity.HARD_STOP)


def test_dose_p4_outpatient_crps_regimen_is_orderable():
    """DOSE-P4: 0.35 mg/kg/h over 4 h (outpatient CRPS regimen) calculates without a hard stop
    or warning, although it lies below DOSE-P2's 0.5; for 70 kg it is 24.5 mg/h, 98 mg in 4 h,
    which meets DOSE-P3 (≥ 80 mg over > 2 h), so no note either."""
    calc = calculate(pain(dose_mg_per_kg_per_h=D("0.35"), duration_min=D(240)))
    assert calc.findings == ()
    assert (calc.dose_mg, calc.rate_ml_per_h) == (D("98.0"), D("24.5"))


# --- §5 Pump-rate arithmetic -------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(weight=weights, rate=st.decimals(min_value=D("0.5"), max_value=D(2), places=3))
def test_rate2_duration_in_hours_is_minutes_over_60(weight, rate):
    """RATE-2: duration_h = duration_min / 60; a pain order's total over 90 min is 1.5 h of it."""
    calc = calculate(pain(weight_kg=weight, dose_mg_per_kg_per_h=rate, duration_min=D(90)))
    assert calc.dose_mg == (rate * weight * D("1.5")).quantize(D("0.1"), rounding=ROUND_HALF_UP)


@settings(max_examples=40, deadline=None)
@given(dose=per_kg, minutes=durations)
def test_rate5_dose_rate_is_mg_per_kg_over_duration_h(dose, minutes):
    """RATE-5 (mood): mg/kg/h = mg/kg / duration_h (Ex 1: 0.5 over 40 min = 0.75)."""
    calc = calculate(mood(dose_mg_per_kg=dose, duration_min=minutes))
    expected = (dose / (minutes / D(60))).quantize(D("0.001"), rounding=ROUND_HALF_UP)
    assert calc.dose_rate_mg_per_kg_per_h == expected


@settings(max_examples=40, deadline=None)
@given(weight=weights, rate=st.decimals(min_value=D("0.5"), max_value=D(2), places=3), conc=concs)
def test_rate5_pain_pump_rate_is_mg_per_kg_h_times_kg_over_concentration(weight, rate, conc):
    """RATE-5 (pain): rate_mL_per_h = mg/kg/h × kg / conc (to the pump's 0.1 mL/h)."""
    limits = DosingLimits(reverse_check_tolerance_pct=D(100))
    calc = calculate(
        pain(weight_kg=weight, dose_mg_per_kg_per_h=rate, concentration_mg_per_ml=conc), limits
    )
    assert abs(calc.rate_ml_per_h - rate * weight / conc) <= D("0.05")


def test_rate6_bag_concentration_uses_the_final_volume_and_vial_draw():
    """RATE-6 (Ex 2): 40 mg in a final 100 mL = 0.4 mg/mL; draw 0.4 / 0.8 / 4 mL from 100 / 50 /
    10 mg/mL vials."""
    assert bag_concentration(total_mg=D(40), final_volume_ml=D(100)) == D("0.4")
    draws = [vial_draw_ml(dose_mg=D(40), vial_mg_per_ml=D(c)) for c in (100, 50, 10)]
    assert draws == [D("0.40"), D("0.80"), D("4.00")]


@settings(max_examples=40, deadline=None)
@given(
    mg=st.decimals(min_value=D(1), max_value=D(500), places=1),
    drug_ml=st.decimals(min_value=D("0.1"), max_value=D(10), places=1),
    diluent_ml=st.decimals(min_value=D(10), max_value=D(500), places=0),
)
def test_rate6_concentration_falls_when_the_diluent_is_counted(mg, drug_ml, diluent_ml):
    """RATE-6: the final volume is drug + diluent, so the bag is weaker than mg / diluent."""
    final = bag_concentration(total_mg=mg, final_volume_ml=drug_ml + diluent_ml)
    assert final < mg / diluent_ml
    assert final * (drug_ml + diluent_ml) == pytest.approx(mg)
