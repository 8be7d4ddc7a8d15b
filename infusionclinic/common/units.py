"""Unit conversion for body measurements. Stored values are SI (kg, cm); what the user typed and
in which unit is kept beside them. ../shared/domain/dosing.md DOSE-U1, DOSE-U2."""

from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class WeightUnit(StrEnum):
    KG = "kg"
    LB = "lb"


class HeightUnit(StrEnum):
    CM = "cm"
    IN = "in"


KG_PER_LB = Decimal("0.45359237")  # DOSE-U1 (exact, by definition of the pound)
CM_PER_IN = Decimal("2.54")  # DOSE-U2 (exact, by definition of the inch)
WEIGHT_QUANTUM = Decimal("0.1")  # DOSE-U1: kg kept to 0.1 kg
HEIGHT_QUANTUM = Decimal("0.1")


class UnknownUnitError(ValueError):
    pass


def weight_to_kg(value: Decimal, unit: str) -> Decimal:
    try:
        parsed = WeightUnit(unit)
    except ValueError as exc:
        raise UnknownUnitError(f"Unknown weight unit {unit!r}; use kg or lb.") from exc
    kg = value if parsed is WeightUnit.KG else value * KG_PER_LB
    return kg.quantize(WEIGHT_QUANTUM, rounding=ROUND_HALF_UP)


def height_to_cm(value: Decimal, unit: str) -> Decimal:
    try:
        parsed = HeightUnit(unit)
    except ValueError as exc:
        raise UnknownUnitError(f"Unknown height unit {unit!r}; use cm or in.") from exc
    cm = value if parsed is HeightUnit.CM else value * CM_PER_IN
    return cm.quantize(HEIGHT_QUANTUM, rounding=ROUND_HALF_UP)
