"""The dosing calculator of ../shared/domain/dosing.md: dosing weight (WT-*), dose, volume and pump
rate (RATE-*, DOSE-*), and the limits (LIM-*) that block an order or warn.

Pure Python (no Django): every number arrives as an argument, so the rules can be pinned by the
document's worked examples and by property tests. Arithmetic is Decimal at full precision; values
are rounded only in the `Calculation` handed back (RATE-7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

CM_PER_IN = Decimal("2.54")  # DOSE-U2
MINUTES_PER_HOUR = Decimal(60)  # RATE-2

WEIGHT_QUANTUM = Decimal("0.1")  # DOSE-U1: kg to 0.1 kg
DOSE_QUANTUM = Decimal("0.1")  # DOSE-U4: mg to 0.1 mg
BMI_QUANTUM = Decimal("0.1")
DOSE_RATE_QUANTUM = Decimal("0.001")  # DOSE-U3: mg/kg to 3 decimals, likewise mg/kg/h


class WeightBasis(StrEnum):
    ACTUAL = "actual"
    IDEAL = "ideal"
    ADJUSTED = "adjusted"


class DosingSex(StrEnum):  # WT-7: the sex chosen for dosing, not gender identity
    FEMALE = "female"
    MALE = "male"


class Indication(StrEnum):
    DEPRESSION = "depression"
    PTSD = "ptsd"
    ANXIETY = "anxiety"
    OCD = "ocd"
    PAIN = "pain"

    @property
    def is_pain(self) -> bool:
        return self is Indication.PAIN


# dosing.md §6: "A hard stop blocks the order from being signed; an override needs a prescriber
# reason." Only the hard stops the table marks "hard stop (override)" may be overridden.
OVERRIDABLE_RULES = frozenset({"LIM-4"})


class Severity(StrEnum):
    HARD_STOP = "hard_stop"  # blocks signing (LIM-4: unless a prescriber overrides with a reason)
    WARNING = "warning"  # signing needs a written reason
    NOTE = "note"  # informational (DOSE-P3), no reason needed


@dataclass(frozen=True)
class DosingLimits:
    """The LIM-* thresholds. Defaults are the document's; ⚠️ ones are unverified clinic settings
    (see dosing.conf for the Django settings that override them)."""

    undiluted_mg_per_ml: Decimal = Decimal(100)  # LIM-1
    max_infusion_conc_mg_per_ml: Decimal = Decimal(2)  # LIM-2 ⚠️
    mood_warn_above_mg_per_kg: Decimal = Decimal("0.75")  # LIM-3
    mood_stop_above_mg_per_kg: Decimal = Decimal("1.0")  # LIM-4
    mood_warn_below_mg_per_kg: Decimal = Decimal("0.1")  # LIM-5
    mood_min_duration_min: Decimal = Decimal(40)  # LIM-6, DOSE-4
    pain_max_bolus_mg_per_kg: Decimal = Decimal("0.35")  # LIM-7, DOSE-P1
    pain_max_mg_per_kg_per_h: Decimal = Decimal("2.0")  # LIM-8, DOSE-P2
    max_mg_session: Decimal | None = None  # LIM-9 ⚠️: None = LIM-4 × dosing weight
    max_dose_change_pct: Decimal = Decimal(50)  # LIM-10 ⚠️
    max_weight_change_pct: Decimal = Decimal(10)  # LIM-11 ⚠️
    pump_min_ml_per_h: Decimal = Decimal("0.1")  # LIM-13, device setting (unverified default)
    pump_max_ml_per_h: Decimal = Decimal("999.9")  # LIM-13, device setting (unverified default)
    min_interval_hours: Decimal = Decimal(48)  # LIM-14, PROT-12 ⚠️
    pump_resolution_ml_per_h: Decimal = Decimal("0.1")  # DOSE-U6 ⚠️
    pain_min_total_mg: Decimal = Decimal(80)  # DOSE-P3
    pain_min_duration_h: Decimal = Decimal(2)  # DOSE-P3
    reverse_check_tolerance_pct: Decimal = Decimal(1)  # RATE-7


DEFAULT_LIMITS = DosingLimits()


@dataclass(frozen=True)
class DoseInput:
    weight_kg: Decimal  # actual body weight
    sex: DosingSex
    indication: Indication
    duration_min: Decimal
    concentration_mg_per_ml: Decimal
    weight_basis: WeightBasis = WeightBasis.ACTUAL  # WT-2
    height_cm: Decimal | None = None
    dose_mg_per_kg: Decimal | None = None  # mood indications (DOSE-1)
    dose_mg_per_kg_per_h: Decimal | None = None  # pain (DOSE-P5)
    bolus_mg_per_kg: Decimal | None = None  # pain, optional (DOSE-P1)
    # Context the limits compare against; None when not known.
    previous_dose_mg: Decimal | None = None  # LIM-10
    previous_weight_kg: Decimal | None = None  # LIM-11
    hours_since_last_infusion: Decimal | None = None  # LIM-14


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class Calculation:
    """Rounded for display and pump entry; the findings say what blocks or needs a reason."""

    weight_basis: WeightBasis
    dosing_weight_kg: Decimal
    bmi: Decimal | None
    ideal_weight_kg: Decimal | None
    dose_mg: Decimal
    volume_ml: Decimal
    rate_ml_per_h: Decimal
    dose_rate_mg_per_kg_per_h: Decimal
    reverse_check_mg: Decimal  # RATE-7: rate × duration_h × conc
    findings: tuple[Finding, ...]
    rule_ids: tuple[str, ...] = field(default=())

    @property
    def blocked(self) -> bool:
        return any(f.severity is Severity.HARD_STOP for f in self.findings)

    @property
    def hard_stops(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.HARD_STOP]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def needs_reason(self) -> bool:
        return bool(self.warnings)


def _round(value: Decimal, quantum: Decimal) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def round_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round to a multiple of `step` (a pump's resolution need not be a power of ten)."""
    return (value / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step


# --- Body weight (WT-) -------------------------------------------------------------------------


def bmi(*, weight_kg: Decimal, height_cm: Decimal) -> Decimal:
    """WT-4: kg / m², full precision."""
    height_m = height_cm / 100
    return weight_kg / (height_m * height_m)


IBW_BASE_KG = {DosingSex.MALE: Decimal(50), DosingSex.FEMALE: Decimal("45.5")}  # WT-5
IBW_KG_PER_IN = Decimal("2.3")  # WT-5
IBW_BASE_HEIGHT_IN = Decimal(60)  # WT-5


def ideal_body_weight(*, height_cm: Decimal, sex: DosingSex) -> tuple[Decimal, bool]:
    """WT-5 (Devine 1974). Returns (IBW kg at full precision, short_stature). At or below 60 in the
    base value is returned and the caller warns: the formula was not designed for short stature."""
    height_in = height_cm / CM_PER_IN
    base = IBW_BASE_KG[DosingSex(sex)]
    if height_in <= IBW_BASE_HEIGHT_IN:
        return base, True
    return base + IBW_KG_PER_IN * (height_in - IBW_BASE_HEIGHT_IN), False


ADJUSTED_FACTOR = Decimal("0.4")  # WT-6


def adjusted_body_weight(*, actual_kg: Decimal, ideal_kg: Decimal) -> Decimal:
    """WT-6: IBW + 0.4 × (actual − IBW) when actual > IBW, otherwise actual."""
    if actual_kg <= ideal_kg:
        return actual_kg
    return ideal_kg + ADJUSTED_FACTOR * (actual_kg - ideal_kg)


# --- Bag and vial (RATE-6) ---------------------------------------------------------------------


def bag_concentration(*, total_mg: Decimal, final_volume_ml: Decimal) -> Decimal:
    """RATE-6: total mg in the bag / final bag volume (drug volume + diluent)."""
    return total_mg / final_volume_ml


def vial_draw_ml(*, dose_mg: Decimal, vial_mg_per_ml: Decimal) -> Decimal:
    """RATE-6: volume to draw from the vial, to 0.01 mL."""
    return _round(dose_mg / vial_mg_per_ml, Decimal("0.01"))


# --- The calculation ---------------------------------------------------------------------------


class DoseInputError(ValueError):
    """Missing or impossible input; `field` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _validate(data: DoseInput) -> None:
    positive = {
        "weight_kg": data.weight_kg,
        "duration_min": data.duration_min,
        "concentration_mg_per_ml": data.concentration_mg_per_ml,
    }
    for name, value in positive.items():
        if value is None or not value.is_finite() or value <= 0:
            raise DoseInputError(name, "Must be a number greater than zero.")
    if data.height_cm is not None and (not data.height_cm.is_finite() or data.height_cm <= 0):
        raise DoseInputError("height_cm", "Must be a number greater than zero.")
    dose_field = "dose_mg_per_kg_per_h" if data.indication.is_pain else "dose_mg_per_kg"
    other_field = "dose_mg_per_kg" if data.indication.is_pain else "dose_mg_per_kg_per_h"
    dose = getattr(data, dose_field)
    if dose is None:
        # DOSE-P5: pain is ordered as mg/kg/h × hours; mood indications as mg/kg per session.
        raise DoseInputError(dose_field, f"Required for indication {data.indication.value}.")
    if not dose.is_finite() or dose <= 0:
        raise DoseInputError(dose_field, "Must be a number greater than zero.")
    if getattr(data, other_field) is not None:
        raise DoseInputError(
            other_field, f"Not used for indication {data.indication.value}; send {dose_field}."
        )
    if data.bolus_mg_per_kg is not None:
        if not data.indication.is_pain:
            raise DoseInputError("bolus_mg_per_kg", "A bolus is only part of a pain order.")
        if not data.bolus_mg_per_kg.is_finite() or data.bolus_mg_per_kg < 0:
            raise DoseInputError("bolus_mg_per_kg", "Must be zero or more.")


def _given(value: Decimal | None) -> Decimal:
    # _validate has required the value for this indication.
    if value is None:
        raise DoseInputError("dose_mg_per_kg", "Required.")
    return value


def _pct_change(new: Decimal, old: Decimal) -> Decimal:
    return abs(new - old) / old * 100


def calculate(data: DoseInput, limits: DosingLimits = DEFAULT_LIMITS) -> Calculation:
    """Dose, volume (VTBI) and pump rate for one infusion, with the limits it trips."""
    _validate(data)
    findings: list[Finding] = []
    rule_ids: list[str] = ["WT-1"]

    def hard(rule_id: str, message: str) -> None:
        findings.append(Finding(rule_id, Severity.HARD_STOP, message))

    def warn(rule_id: str, message: str) -> None:
        findings.append(Finding(rule_id, Severity.WARNING, message))

    basis = WeightBasis(data.weight_basis)
    actual = data.weight_kg
    body_mass_index: Decimal | None = None
    ideal: Decimal | None = None
    if data.height_cm is not None:
        body_mass_index = bmi(weight_kg=actual, height_cm=data.height_cm)
        ideal, short = ideal_body_weight(height_cm=data.height_cm, sex=data.sex)
        rule_ids += ["WT-4", "WT-5"]
        if short and basis is not WeightBasis.ACTUAL:
            warn("WT-5", "Height is 60 in or less: the Devine formula's base value is used.")
        if body_mass_index >= 30:
            # WT-3 / ELIG-C3: the basis must be a deliberate choice; the reason records it.
            warn(
                "WT-3",
                f"BMI {_round(body_mass_index, BMI_QUANTUM)} ≥ 30: confirm the dosing-weight basis "
                f"({basis.value}); ideal or adjusted body weight may be preferred.",
            )

    if basis is WeightBasis.ACTUAL:
        dosing_weight = actual
        rule_ids.append("WT-2")
    elif ideal is None:
        hard("LIM-12", f"Height is needed for {basis.value} body weight (WT-5).")
        dosing_weight = actual  # shown, but the order is blocked
    elif basis is WeightBasis.IDEAL:
        dosing_weight = ideal
    else:
        dosing_weight = adjusted_body_weight(actual_kg=actual, ideal_kg=ideal)
        rule_ids.append("WT-6")

    duration_h = data.duration_min / MINUTES_PER_HOUR  # RATE-2
    conc = data.concentration_mg_per_ml
    if data.indication.is_pain:
        dose_rate = _given(data.dose_mg_per_kg_per_h)
        dose_mg = dose_rate * dosing_weight * duration_h  # DOSE-P5
        rule_ids += ["DOSE-P5", "RATE-2", "RATE-3", "RATE-5"]
    else:
        dose_mg = _given(data.dose_mg_per_kg) * dosing_weight  # RATE-1
        dose_rate = _given(data.dose_mg_per_kg) / duration_h  # RATE-5
        rule_ids += ["RATE-1", "RATE-2", "RATE-3", "RATE-4", "RATE-5"]
    volume_ml = dose_mg / conc  # RATE-3
    rate = volume_ml / duration_h  # RATE-4 (pain: mg/kg/h × kg / conc, the same number)

    rate_shown = round_to_step(rate, limits.pump_resolution_ml_per_h)  # DOSE-U6
    reverse_mg = rate_shown * duration_h * conc  # RATE-7
    rule_ids.append("RATE-7")
    if dose_mg > 0 and _pct_change(reverse_mg, dose_mg) > limits.reverse_check_tolerance_pct:
        hard(
            "RATE-7",
            f"Pump rate {rate_shown} mL/h delivers {_round(reverse_mg, DOSE_QUANTUM)} mg, more "
            f"than {limits.reverse_check_tolerance_pct} % away from the "
            f"{_round(dose_mg, DOSE_QUANTUM)} mg ordered: choose another concentration.",
        )

    # --- Limits (LIM-) ---
    if conc >= limits.undiluted_mg_per_ml:
        hard("LIM-1", f"{conc} mg/mL is the undiluted vial: never infuse it without dilution.")
    elif conc > limits.max_infusion_conc_mg_per_ml:
        warn(
            "LIM-2",
            f"Concentration {conc} mg/mL is above {limits.max_infusion_conc_mg_per_ml} mg/mL.",
        )
    if data.indication.is_pain:
        # DOSE-P2's 0.5-2 mg/kg/h: only the upper bound stops (LIM-8). No lower bound:
        # DOSE-P4's outpatient CRPS regimen (0.35 mg/kg/h over 4 h daily) lies below 0.5 and
        # must stay orderable.
        if dose_rate > limits.pain_max_mg_per_kg_per_h:
            hard(
                "LIM-8",
                f"{dose_rate} mg/kg/h is above the outpatient maximum of "
                f"{limits.pain_max_mg_per_kg_per_h} mg/kg/h.",
            )
        if (
            data.bolus_mg_per_kg is not None
            and data.bolus_mg_per_kg > limits.pain_max_bolus_mg_per_kg
        ):
            hard(
                "LIM-7",
                f"Bolus {data.bolus_mg_per_kg} mg/kg is above "
                f"{limits.pain_max_bolus_mg_per_kg} mg/kg.",
            )
        if dose_mg < limits.pain_min_total_mg or duration_h <= limits.pain_min_duration_h:
            findings.append(
                Finding(
                    "DOSE-P3",
                    Severity.NOTE,
                    f"A total of at least {limits.pain_min_total_mg} mg over more than "
                    f"{limits.pain_min_duration_h} h is suggested for pain.",
                )
            )
    else:
        per_kg = _given(data.dose_mg_per_kg)
        # DOSE-2: the studied range 0.1-1.0 mg/kg is orderable; outside it LIM-4 stops and LIM-5
        # warns, and above the usual 0.75 LIM-3 asks for a reason.
        if per_kg > limits.mood_stop_above_mg_per_kg:
            hard("LIM-4", f"{per_kg} mg/kg is above {limits.mood_stop_above_mg_per_kg} mg/kg.")
        elif per_kg > limits.mood_warn_above_mg_per_kg:
            warn(
                "LIM-3",
                f"{per_kg} mg/kg is above the usual {limits.mood_warn_above_mg_per_kg} mg/kg.",
            )
        if per_kg < limits.mood_warn_below_mg_per_kg:
            warn("LIM-5", f"{per_kg} mg/kg is below the lowest studied dose of 0.1 mg/kg.")
        if data.duration_min < limits.mood_min_duration_min:
            warn(
                "LIM-6",
                f"{data.duration_min} min is shorter than {limits.mood_min_duration_min} min: "
                "rapid IV administration can depress breathing and raise blood pressure (DOSE-4).",
            )
        cap = (
            limits.max_mg_session
            if limits.max_mg_session is not None
            else limits.mood_stop_above_mg_per_kg * dosing_weight
        )
        if dose_mg > cap:
            hard("LIM-9", f"{_round(dose_mg, DOSE_QUANTUM)} mg is above the session cap.")
    if data.previous_dose_mg is not None and data.previous_dose_mg > 0:
        change = _pct_change(dose_mg, data.previous_dose_mg)
        if change > limits.max_dose_change_pct:
            warn(
                "LIM-10",
                f"Dose changes by {_round(change, Decimal(1))} % from the previous "
                f"{data.previous_dose_mg} mg.",
            )
    if data.previous_weight_kg is not None and data.previous_weight_kg > 0:
        change = _pct_change(actual, data.previous_weight_kg)
        if change > limits.max_weight_change_pct:
            warn(
                "LIM-11",
                f"Weight differs by {_round(change, Decimal(1))} % from the previous "
                f"{data.previous_weight_kg} kg: weigh the patient again.",
            )
    if not limits.pump_min_ml_per_h <= rate_shown <= limits.pump_max_ml_per_h:
        hard(
            "LIM-13",
            f"Pump rate {rate_shown} mL/h is outside the pump's "
            f"{limits.pump_min_ml_per_h}-{limits.pump_max_ml_per_h} mL/h.",
        )
    if (
        data.hours_since_last_infusion is not None
        and data.hours_since_last_infusion < limits.min_interval_hours
    ):
        warn(
            "LIM-14",
            f"Only {data.hours_since_last_infusion} h since the last infusion "
            f"(minimum {limits.min_interval_hours} h, PROT-12).",
        )

    for finding in findings:
        if finding.rule_id not in rule_ids:
            rule_ids.append(finding.rule_id)
    return Calculation(
        weight_basis=basis,
        dosing_weight_kg=_round(dosing_weight, WEIGHT_QUANTUM),
        bmi=_round(body_mass_index, BMI_QUANTUM) if body_mass_index is not None else None,
        ideal_weight_kg=_round(ideal, WEIGHT_QUANTUM) if ideal is not None else None,
        dose_mg=_round(dose_mg, DOSE_QUANTUM),
        volume_ml=_round(volume_ml, DOSE_QUANTUM),
        rate_ml_per_h=rate_shown,
        dose_rate_mg_per_kg_per_h=_round(dose_rate, DOSE_RATE_QUANTUM),
        reverse_check_mg=_round(reverse_mg, DOSE_QUANTUM),
        findings=tuple(findings),
        rule_ids=tuple(rule_ids),
    )
