"""Body-measurement units (../shared/domain/dosing.md DOSE-U1 weight, DOSE-U2 height): what the user
types in lb or in is stored in kg or cm, kept to 0.1."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infusionclinic.common.units import UnknownUnitError, height_to_cm, weight_to_kg

EXAMPLES = settings(max_examples=60, deadline=None)
TENTH = Decimal("0.1")

# Body-sized numbers with up to two decimals, as a form would accept them.
measurements = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("2000"), places=2, allow_nan=False
)
# SI values as they are stored: one decimal.
stored_tenths = st.decimals(
    min_value=Decimal("0.1"), max_value=Decimal("1000"), places=1, allow_nan=False
)


@pytest.mark.parametrize(
    ("value", "unit", "kg"),
    [
        ("150", "lb", "68.0"),  # 68.0388555
        ("1", "lb", "0.5"),  # 0.45359237
        ("220.5", "lb", "100.0"),  # 100.0171176
        ("100", "lb", "45.4"),  # 45.359237
        ("72.5", "kg", "72.5"),
        ("72.46", "kg", "72.5"),
        ("72.44", "kg", "72.4"),
    ],
)
def test_dose_u1_weight_is_stored_in_kg_to_one_decimal(value, unit, kg):
    assert weight_to_kg(Decimal(value), unit) == Decimal(kg)


@pytest.mark.parametrize(
    ("value", "unit", "cm"),
    [
        ("70", "in", "177.8"),
        ("65.5", "in", "166.4"),  # 166.37
        ("1", "in", "2.5"),  # 2.54
        ("180", "cm", "180.0"),
        ("172.25", "cm", "172.3"),
    ],
)
def test_dose_u2_height_is_stored_in_cm_to_one_decimal(value, unit, cm):
    assert height_to_cm(Decimal(value), unit) == Decimal(cm)


@pytest.mark.parametrize("unit", ["stone", "KG", "lbs", "g", "", "cm"])
def test_dose_u1_unknown_weight_unit_raises_a_clear_error(unit):
    with pytest.raises(UnknownUnitError, match=r"Unknown weight unit .*; use kg or lb"):
        weight_to_kg(Decimal("70"), unit)


@pytest.mark.parametrize("unit", ["ft", "IN", "m", "", "kg"])
def test_dose_u2_unknown_height_unit_raises_a_clear_error(unit):
    with pytest.raises(UnknownUnitError, match=r"Unknown height unit .*; use cm or in"):
        height_to_cm(Decimal("170"), unit)


@EXAMPLES
@given(kg=stored_tenths)
def test_dose_u1_a_kg_value_at_storage_precision_is_stored_unchanged(kg):
    assert weight_to_kg(kg, "kg") == kg


@EXAMPLES
@given(cm=stored_tenths)
def test_dose_u2_a_cm_value_at_storage_precision_is_stored_unchanged(cm):
    assert height_to_cm(cm, "cm") == cm


@EXAMPLES
@given(lb=measurements)
def test_dose_u1_lb_is_within_half_a_tenth_of_the_exact_product(lb):
    kg = weight_to_kg(lb, "lb")
    assert kg == kg.quantize(TENTH)
    assert abs(kg - lb * Decimal("0.45359237")) <= Decimal("0.05")


@EXAMPLES
@given(inches=measurements)
def test_dose_u2_inches_are_within_half_a_tenth_of_the_exact_product(inches):
    cm = height_to_cm(inches, "in")
    assert cm == cm.quantize(TENTH)
    assert abs(cm - inches * Decimal("2.54")) <= Decimal("0.05")


@EXAMPLES
@given(a=measurements, b=measurements)
def test_dose_u1_lb_conversion_never_reverses_order(a, b):
    low, high = sorted((a, b))
    assert weight_to_kg(low, "lb") <= weight_to_kg(high, "lb")


@EXAMPLES
@given(a=measurements, b=measurements)
def test_dose_u2_in_conversion_never_reverses_order(a, b):
    low, high = sorted((a, b))
    assert height_to_cm(low, "in") <= height_to_cm(high, "in")


@EXAMPLES
@given(kg=stored_tenths)
def test_dose_u1_kg_shown_in_lb_to_two_decimals_converts_back_to_the_same_kg(kg):
    # A stored weight displayed in lb (to 0.01 lb) and typed back in lb must not drift.
    lb = (kg / Decimal("0.45359237")).quantize(Decimal("0.01"))
    assert weight_to_kg(lb, "lb") == kg


@EXAMPLES
@given(cm=stored_tenths)
def test_dose_u2_cm_shown_in_inches_to_two_decimals_converts_back_to_the_same_cm(cm):
    inches = (cm / Decimal("2.54")).quantize(Decimal("0.01"))
    assert height_to_cm(inches, "in") == cm


@EXAMPLES
@given(unit=st.text(max_size=6).filter(lambda u: u not in {"kg", "lb"}))
def test_dose_u1_any_other_weight_unit_is_refused(unit):
    with pytest.raises(UnknownUnitError):
        weight_to_kg(Decimal("70"), unit)
