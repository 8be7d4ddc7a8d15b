"""The calculator against ../shared/domain/dosing.md: every worked example exactly, every LIM-*
rule by its id, and the arithmetic's properties."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infusionclinic.dosing.calculator import (
    DEFAULT_LIMITS,
    DoseInput,
    DoseInputError,
    DosingSex,
    Indication,
    Severity,
    WeightBasis,
    adjusted_body_weight,
    bag_concentration,
    calculate,
    ideal_body_weight,
    vial_draw_ml,
)


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


# --- Worked examples (dosing.md §5) ------------------------------------------------------------


def test_example_1_standard_dose_diluted_1_mg_per_ml():
    calc = calculate(mood())
    assert calc.dose_mg == D("40.0")
    assert calc.volume_ml == D("40.0")
    assert calc.rate_ml_per_h == D("60.0")
    assert calc.reverse_check_mg == D("40.0")  # RATE-7: 60 mL/h × 0.6667 h × 1 mg/mL
    assert calc.dose_rate_mg_per_kg_per_h == D("0.750")  # = 60 mg/h at 80 kg
    assert calc.findings == ()
    assert not calc.blocked


def test_example_2_whole_dose_in_the_bag_and_vial_draw():
    conc = bag_concentration(total_mg=D(40), final_volume_ml=D(100))
    assert conc == D("0.4")
    calc = calculate(mood(concentration_mg_per_ml=conc))
    assert calc.rate_ml_per_h == D("150.0")
    assert calc.volume_ml == D("100.0")
    assert vial_draw_ml(dose_mg=D(40), vial_mg_per_ml=D(100)) == D("0.40")
    assert vial_draw_ml(dose_mg=D(40), vial_mg_per_ml=D(50)) == D("0.80")
    assert vial_draw_ml(dose_mg=D(40), vial_mg_per_ml=D(10)) == D("4.00")


def test_example_3_titrated_dose_warns_above_usual_range():
    calc = calculate(mood(dose_mg_per_kg=D("0.75")))
    assert calc.dose_mg == D("60.0")
    assert calc.rate_ml_per_h == D("90.0")
    assert calc.dose_rate_mg_per_kg_per_h == D("1.125")
    assert ids(calc) == set()  # 0.75 is the top of the usual range, not above it (LIM-3)


@pytest.mark.parametrize(
    ("basis", "kg", "dose_mg", "rate"),
    [
        (WeightBasis.ACTUAL, "110.0", "55.0", "82.5"),
        (WeightBasis.IDEAL, "56.9", "28.5", "42.7"),
        (WeightBasis.ADJUSTED, "78.1", "39.1", "58.6"),
    ],
)
def test_example_4_obesity_table_each_basis(basis, kg, dose_mg, rate):
    calc = calculate(
        mood(weight_kg=D(110), height_cm=D(165), sex=DosingSex.FEMALE, weight_basis=basis)
    )
    assert calc.bmi == D("40.4")
    assert calc.ideal_weight_kg == D("56.9")
    assert calc.dosing_weight_kg == D(kg)
    assert calc.dose_mg == D(dose_mg)
    assert calc.rate_ml_per_h == D(rate)
    assert "WT-3" in ids(calc, Severity.WARNING)  # BMI ≥ 30: the basis is a deliberate choice


def test_example_4_formulas_ibw_and_adjusted():
    ibw, short = ideal_body_weight(height_cm=D(165), sex=DosingSex.FEMALE)
    assert not short
    assert ibw.quantize(D("0.1")) == D("56.9")
    assert adjusted_body_weight(actual_kg=D(110), ideal_kg=ibw).quantize(D("0.1")) == D("78.1")


def test_example_5_pain_rate_and_total():
    calc = calculate(pain())
    assert calc.rate_ml_per_h == D("35.0")
    assert calc.dose_mg == D("140.0")
    assert calc.volume_ml == D("140.0")
    assert "DOSE-P3" not in ids(calc)  # ≥ 80 mg over > 2 h: satisfied
    assert "DOSE-P5" in calc.rule_ids


def test_example_6_male_ibw():
    ibw, _ = ideal_body_weight(height_cm=D(178), sex=DosingSex.MALE)
    assert ibw.quantize(D("0.1")) == D("73.2")


# --- WT rules ----------------------------------------------------------------------------------


def test_wt2_actual_weight_is_the_default_basis():
    calc = calculate(mood())
    assert calc.weight_basis is WeightBasis.ACTUAL
    assert "WT-2" in calc.rule_ids


def test_wt5_short_stature_returns_base_value_and_warns():
    ibw, short = ideal_body_weight(height_cm=D(150), sex=DosingSex.FEMALE)
    assert (ibw, short) == (D("45.5"), True)
    calc = calculate(mood(height_cm=D(150), weight_basis=WeightBasis.IDEAL, weight_kg=D(50)))
    assert "WT-5" in ids(calc, Severity.WARNING)


def test_wt6_adjusted_weight_is_actual_when_not_above_ibw():
    assert adjusted_body_weight(actual_kg=D(50), ideal_kg=D("56.9")) == D(50)


def test_wt3_no_bmi_warning_below_30():
    calc = calculate(mood(height_cm=D(180)))  # 80 kg, 1.80 m: BMI 24.7
    assert "WT-3" not in ids(calc)


# --- Limits (LIM-) -----------------------------------------------------------------------------


def test_lim1_undiluted_100_mg_per_ml_is_a_hard_stop():
    calc = calculate(mood(concentration_mg_per_ml=D(100)))
    assert "LIM-1" in ids(calc, Severity.HARD_STOP)
    assert calc.blocked


def test_lim2_concentration_above_max_warns():
    assert "LIM-2" in ids(calculate(mood(concentration_mg_per_ml=D("2.5"))), Severity.WARNING)
    assert "LIM-2" not in ids(calculate(mood(concentration_mg_per_ml=D(2))))


def test_lim3_mood_dose_above_075_warns_without_blocking():
    calc = calculate(mood(dose_mg_per_kg=D("0.8")))
    assert ids(calc) == {"LIM-3"}
    assert not calc.blocked


def test_lim4_mood_dose_above_1_is_a_hard_stop():
    calc = calculate(mood(dose_mg_per_kg=D("1.01")))
    assert "LIM-4" in ids(calc, Severity.HARD_STOP)
    assert calculate(mood(dose_mg_per_kg=D("1.0"))).blocked is False


def test_lim5_mood_dose_below_01_warns():
    assert "LIM-5" in ids(calculate(mood(dose_mg_per_kg=D("0.05"))), Severity.WARNING)
    assert "LIM-5" not in ids(calculate(mood(dose_mg_per_kg=D("0.1"))))


def test_lim6_mood_duration_below_40_min_warns():
    assert "LIM-6" in ids(calculate(mood(duration_min=D(30))), Severity.WARNING)
    assert "LIM-6" not in ids(calculate(mood(duration_min=D(100))))


def test_lim7_pain_bolus_above_035_is_a_hard_stop():
    assert "LIM-7" in ids(calculate(pain(bolus_mg_per_kg=D("0.4"))), Severity.HARD_STOP)
    assert "LIM-7" not in ids(calculate(pain(bolus_mg_per_kg=D("0.35"))))


def test_lim8_pain_rate_above_2_mg_per_kg_per_h_is_a_hard_stop():
    assert "LIM-8" in ids(calculate(pain(dose_mg_per_kg_per_h=D("2.1"))), Severity.HARD_STOP)
    assert "LIM-8" not in ids(calculate(pain(dose_mg_per_kg_per_h=D(2))))


def test_lim9_session_cap_setting_is_a_hard_stop():
    from dataclasses import replace

    limits = replace(DEFAULT_LIMITS, max_mg_session=D(35))
    assert "LIM-9" in ids(calculate(mood(), limits), Severity.HARD_STOP)  # 40 mg > 35 mg
    assert "LIM-9" not in ids(calculate(mood()))  # default cap = LIM-4 × dosing weight


def test_lim10_dose_change_above_50_percent_warns():
    assert "LIM-10" in ids(calculate(mood(previous_dose_mg=D(20))), Severity.WARNING)  # +100 %
    assert "LIM-10" not in ids(calculate(mood(previous_dose_mg=D(30))))  # +33 %


def test_lim11_weight_change_above_10_percent_warns():
    assert "LIM-11" in ids(calculate(mood(previous_weight_kg=D(70))), Severity.WARNING)
    assert "LIM-11" not in ids(calculate(mood(previous_weight_kg=D(75))))


@pytest.mark.parametrize("basis", [WeightBasis.IDEAL, WeightBasis.ADJUSTED])
def test_lim12_height_missing_for_ideal_or_adjusted_is_a_hard_stop(basis):
    calc = calculate(mood(weight_basis=basis))
    assert "LIM-12" in ids(calc, Severity.HARD_STOP)


def test_lim13_rate_outside_pump_range_is_a_hard_stop():
    # 0.5 mg/kg × 80 kg at 0.1 mg/mL over 40 min = 600 mL/h: fine; at 0.04 mg/mL = 1500 mL/h.
    assert "LIM-13" in ids(calculate(mood(concentration_mg_per_ml=D("0.04"))), Severity.HARD_STOP)
    assert "LIM-13" not in ids(calculate(mood(concentration_mg_per_ml=D("0.1"))))


def test_lim14_interval_shorter_than_prot12_minimum_warns():
    assert "LIM-14" in ids(calculate(mood(hours_since_last_infusion=D(24))), Severity.WARNING)
    assert "LIM-14" not in ids(calculate(mood(hours_since_last_infusion=D(48))))


def test_dose_p3_pain_below_80_mg_or_2_h_is_only_a_note():
    calc = calculate(pain(duration_min=D(120)))
    assert "DOSE-P3" in ids(calc, Severity.NOTE)
    assert not calc.blocked
    assert not calc.needs_reason


def test_rate7_reverse_check_blocks_when_pump_rounding_loses_more_than_1_percent():
    # 0.1 mg/kg × 5 kg at 1 mg/mL over 100 min: 0.3 mL/h exactly; at 0.7 mg/mL 0.43 -> 0.4 (7 %).
    calc = calculate(
        mood(
            weight_kg=D(5),
            dose_mg_per_kg=D("0.1"),
            duration_min=D(100),
            concentration_mg_per_ml=D("0.7"),
        )
    )
    assert "RATE-7" in ids(calc, Severity.HARD_STOP)


# --- Input ------------------------------------------------------------------------------------


def test_pain_requires_dose_per_kg_per_h_and_refuses_dose_per_kg():
    with pytest.raises(DoseInputError) as err:
        calculate(pain(dose_mg_per_kg_per_h=None))
    assert err.value.field == "dose_mg_per_kg_per_h"
    with pytest.raises(DoseInputError) as err:
        calculate(pain(dose_mg_per_kg=D("0.5")))
    assert err.value.field == "dose_mg_per_kg"


@pytest.mark.parametrize("name", ["weight_kg", "duration_min", "concentration_mg_per_ml"])
def test_impossible_input_names_the_field(name):
    with pytest.raises(DoseInputError) as err:
        calculate(mood(**{name: D(0)}))
    assert err.value.field == name


# --- Properties --------------------------------------------------------------------------------

weights = st.decimals(min_value=D(30), max_value=D(250), places=1)
per_kg = st.decimals(min_value=D("0.1"), max_value=D("1.0"), places=3)
durations = st.integers(min_value=20, max_value=240).map(D)
concs = st.sampled_from([D("0.5"), D(1), D("1.5"), D(2)])
heights = st.decimals(min_value=D(120), max_value=D(220), places=1)


@settings(max_examples=50, deadline=None)
@given(weight=weights, dose=per_kg, factor=st.integers(min_value=2, max_value=4))
def test_property_dose_is_proportional_to_dosing_weight_and_mg_per_kg(weight, dose, factor):
    # RATE-1: dose_mg = mg/kg × kg, so scaling either scales the dose (to rounding).
    one = calculate(mood(weight_kg=weight, dose_mg_per_kg=dose)).dose_mg
    heavier = calculate(mood(weight_kg=weight * factor, dose_mg_per_kg=dose)).dose_mg
    stronger = calculate(mood(weight_kg=weight, dose_mg_per_kg=dose * factor)).dose_mg
    assert one == (dose * weight).quantize(D("0.1"), rounding="ROUND_HALF_UP")
    assert abs(heavier - one * factor) <= D("0.05") * (factor + 1)
    assert abs(stronger - one * factor) <= D("0.05") * (factor + 1)


@settings(max_examples=50, deadline=None)
@given(weight=weights, dose=per_kg, minutes=durations, conc=concs)
def test_property_volume_equals_rate_times_duration(weight, dose, minutes, conc):
    # RATE-3/RATE-4: VTBI = rate × duration_h; the rounded values differ by rounding only.
    calc = calculate(
        mood(
            weight_kg=weight,
            dose_mg_per_kg=dose,
            duration_min=minutes,
            concentration_mg_per_ml=conc,
        )
    )
    hours = minutes / 60
    assert abs(calc.volume_ml - calc.rate_ml_per_h * hours) <= D("0.05") + D("0.05") * hours


@settings(max_examples=50, deadline=None)
@given(
    low=heights,
    step=st.decimals(min_value=D("0.1"), max_value=D(50), places=1),
    sex=st.sampled_from(list(DosingSex)),
)
def test_property_ideal_body_weight_is_monotone_in_height(low, step, sex):
    # WT-5: never decreasing; strictly increasing above 60 in (152.4 cm).
    ibw_low, _ = ideal_body_weight(height_cm=low, sex=sex)
    ibw_high, _ = ideal_body_weight(height_cm=low + step, sex=sex)
    assert ibw_high >= ibw_low
    if low + step > D("152.4"):
        assert ibw_high > ibw_low
