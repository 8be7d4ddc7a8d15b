"""Eligibility screening (../shared/domain/protocol.md §2-3). The rule table — ids, severities,
plain-language messages — is data (data/screening_rules.json); this module is the one place that
decides when each rule fires. `evaluate` is a pure function of a `ScreeningInput`, so each rule is
tested by its id without the database."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings

RULES_FILE = Path(__file__).parent / "data" / "screening_rules.json"

ABSOLUTE, RELATIVE, INFO = "absolute", "relative", "info"
# PROT-2: TRD is no response after at least 2 adequate antidepressant trials.
TRD_MIN_FAILED_TRIALS = 2
# ELIG-C3: BMI at or above 30 (dosing.md WT-3).
BMI_WARNING = Decimal("30")
DEPRESSION_PREFIXES = ("F32", "F33")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    reviewable: bool
    message: str
    medication_keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleTable:
    version: str
    rules: dict[str, Rule]


@cache
def rule_table() -> RuleTable:
    data = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    rules = {
        r["id"]: Rule(
            id=r["id"],
            severity=r["severity"],
            reviewable=r["reviewable"],
            message=r["message"],
            medication_keywords=tuple(k.casefold() for k in r.get("medication_keywords", ())),
        )
        for r in data["rules"]
    }
    return RuleTable(version=data["version"], rules=rules)


@dataclass(frozen=True)
class Trial:
    kind: str
    name: str
    weeks: int | None
    dose_adequate: bool | None
    current_episode: bool
    outcome: str


@dataclass(frozen=True)
class ScreeningInput:
    """Everything the rules read. `answers` holds the intake's screening questions (None = not
    answered)."""

    birth_date: date
    today: date
    sex_at_birth: str
    answers: dict[str, Any]
    diagnosis_codes: tuple[str, ...] = ()
    medication_text: str = ""  # intake list and chart medications, one per line
    weight_kg: Decimal | None = None
    height_cm: Decimal | None = None
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None
    escort_named: bool = False
    trials: tuple[Trial, ...] = ()


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: str
    message: str
    evidence: str


@dataclass(frozen=True)
class Result:
    status: str  # from the findings alone: eligible / needs_review / ineligible
    findings: list[Finding] = field(default_factory=list)
    resistance_count: int = 0
    rules_version: str = ""


# Questions that must be answered before every rule can be checked (PROT-3). Pregnancy and
# breastfeeding are asked of everyone not recorded as male at birth.
REQUIRED_ANSWERS = (
    "ketamine_hypersensitivity",
    "aneurysm_avm_or_brain_bleed",
    "uncontrolled_hypertension",
    "unstable_heart_disease",
    "current_psychosis",
    "current_mania",
    "hepatic_disease",
    "takes_theophylline",
    "substance_use_active",
    "substance_use_history",
    "psychosis_history",
    "bipolar_disorder",
    "alcohol_misuse_or_hepatitis",
    "raised_eye_or_brain_pressure",
    "urinary_symptoms",
    "takes_cns_depressants",
    "takes_stimulants_or_maoi",
)
PREGNANCY_ANSWERS = ("pregnant", "breastfeeding")


def required_answers(sex_at_birth: str) -> tuple[str, ...]:
    return REQUIRED_ANSWERS + (() if sex_at_birth == "male" else PREGNANCY_ANSWERS)


def age_years(birth_date: date, today: date) -> int:
    return (
        today.year
        - birth_date.year
        - ((today.month, today.day) < (birth_date.month, birth_date.day))
    )


def bmi(weight_kg: Decimal | None, height_cm: Decimal | None) -> Decimal | None:
    """dosing.md WT-4: BMI = kg / m²."""
    if not weight_kg or not height_cm:
        return None
    metres = Decimal(height_cm) / 100
    return (Decimal(weight_kg) / (metres * metres)).quantize(Decimal("0.1"))


def adequate_failed_trials(trials: tuple[Trial, ...]) -> list[Trial]:
    """PROT-2: antidepressant trials in the current episode, at an adequate dose (the
    prescriber's judgement, recorded per trial) for at least INTAKE_ADEQUATE_TRIAL_MIN_WEEKS,
    that ended without response (< 50 % improvement)."""
    min_weeks = settings.INTAKE_ADEQUATE_TRIAL_MIN_WEEKS
    return [
        t
        for t in trials
        if t.kind == "antidepressant"
        and t.current_episode
        and t.dose_adequate is True
        and t.weeks is not None
        and t.weeks >= min_weeks
        and t.outcome == "no_response"
    ]


def _yes(inp: ScreeningInput, name: str) -> str | None:
    return f"intake: {name.replace('_', ' ')} = yes" if inp.answers.get(name) is True else None


def _codes(inp: ScreeningInput, *prefixes: str) -> list[str]:
    return sorted(c for c in inp.diagnosis_codes if c.startswith(prefixes))


def _medications(inp: ScreeningInput, rule: Rule) -> list[str]:
    text = inp.medication_text.casefold()
    return [k for k in rule.medication_keywords if k in text]


def _evidence(*parts: str | None) -> str | None:
    found = [p for p in parts if p]
    return "; ".join(found) if found else None


def _dx(codes: list[str]) -> str | None:
    return "diagnosis " + ", ".join(codes) if codes else None


def _meds(names: list[str]) -> str | None:
    return "medication " + ", ".join(names) if names else None


def _a3(inp: ScreeningInput) -> str | None:
    # ELIG-A3 with the session gate of monitoring.md MON-BP-2 as "uncontrolled at screening".
    high_bp = None
    sbp, dbp = inp.systolic_mmhg, inp.diastolic_mmhg
    if (sbp is not None and sbp >= settings.SCREENING_UNCONTROLLED_SBP_MMHG) or (
        dbp is not None and dbp >= settings.SCREENING_UNCONTROLLED_DBP_MMHG
    ):
        high_bp = f"baseline blood pressure {sbp or '?'}/{dbp or '?'} mmHg"
    return _evidence(_yes(inp, "uncontrolled_hypertension"), high_bp)


def _hepatic(inp: ScreeningInput, level: str) -> str | None:
    return (
        f"intake: liver disease = {level}" if inp.answers.get("hepatic_disease") == level else None
    )


def _accepted_indication(inp: ScreeningInput) -> str | None:
    prefixes = tuple(settings.INTAKE_ACCEPTED_INDICATION_PREFIXES)
    if any(c.startswith(prefixes) for c in inp.diagnosis_codes):
        return None
    codes = ", ".join(sorted(inp.diagnosis_codes)) or "none recorded"
    return f"diagnoses: {codes}"


def _pregnancy_test(inp: ScreeningInput) -> str | None:
    # PRE-2 (setting, default on): people who can become pregnant; the chart records sex at
    # birth only, so everyone not recorded male is asked to test.
    if settings.INTAKE_PREGNANCY_TEST_REQUIRED and inp.sex_at_birth != "male":
        return f"sex at birth: {inp.sex_at_birth}"
    return None


def _pre1(inp: ScreeningInput) -> str | None:
    return _evidence(
        _yes(inp, "unstable_heart_disease"),
        _yes(inp, "uncontrolled_hypertension"),
        _hepatic(inp, "moderate"),
        _hepatic(inp, "severe"),
        _yes(inp, "alcohol_misuse_or_hepatitis"),
    )


def _c3(inp: ScreeningInput) -> str | None:
    value = bmi(inp.weight_kg, inp.height_cm)
    return f"BMI {value}" if value is not None and value >= BMI_WARNING else None


def _a10(inp: ScreeningInput) -> str | None:
    age = age_years(inp.birth_date, inp.today)
    return f"age {age}" if age < settings.INTAKE_MIN_AGE_YEARS else None


def _prot3(inp: ScreeningInput) -> str | None:
    missing = [n for n in required_answers(inp.sex_at_birth) if inp.answers.get(n) in (None, "")]
    return "unanswered: " + ", ".join(m.replace("_", " ") for m in missing) if missing else None


def _prot5(inp: ScreeningInput) -> str | None:
    depression = _codes(inp, *DEPRESSION_PREFIXES)
    count = len(adequate_failed_trials(inp.trials))
    if depression and count < TRD_MIN_FAILED_TRIALS:
        return f"{_dx(depression)}; adequate failed trials {count}"
    return None


def _checks(rule_id: str, inp: ScreeningInput, rule: Rule) -> str | None:
    """Evidence that `rule_id` applies to this input, or None. One branch per rule id."""
    match rule_id:
        case "ELIG-A1":
            return _yes(inp, "ketamine_hypersensitivity")
        case "ELIG-A2":
            return _yes(inp, "aneurysm_avm_or_brain_bleed")
        case "ELIG-A3":
            return _a3(inp)
        case "ELIG-A4":
            return _yes(inp, "unstable_heart_disease")
        case "ELIG-A5":
            # F32.3 / F33.3: the current depressive episode has psychotic features.
            return _evidence(_yes(inp, "current_psychosis"), _dx(_codes(inp, "F32.3", "F33.3")))
        case "ELIG-A6":
            return _yes(inp, "current_mania")
        case "ELIG-A7":
            return _yes(inp, "pregnant")
        case "ELIG-A8":
            return _hepatic(inp, "severe")
        case "ELIG-A9":
            return _evidence(_yes(inp, "takes_theophylline"), _meds(_medications(inp, rule)))
        case "ELIG-A10":
            return _a10(inp)
        case "ELIG-B1":
            return _yes(inp, "substance_use_active")
        case "ELIG-B2":
            return _yes(inp, "substance_use_history")
        case "ELIG-B3":
            # A schizophrenia-spectrum diagnosis (codes.md CODE-DX17) without current symptoms.
            return _evidence(_yes(inp, "psychosis_history"), _dx(_codes(inp, "F20", "F25")))
        case "ELIG-B4":
            return _evidence(_yes(inp, "bipolar_disorder"), _dx(_codes(inp, "F31")))
        case "ELIG-B5":
            return _evidence(_hepatic(inp, "moderate"), _yes(inp, "alcohol_misuse_or_hepatitis"))
        case "ELIG-B6":
            return _yes(inp, "raised_eye_or_brain_pressure")
        case "ELIG-B7":
            return _yes(inp, "urinary_symptoms")
        case "ELIG-B8":
            return _yes(inp, "breastfeeding")
        case "ELIG-C1":
            return _evidence(_yes(inp, "takes_cns_depressants"), _meds(_medications(inp, rule)))
        case "ELIG-C2":
            return _evidence(_yes(inp, "takes_stimulants_or_maoi"), _meds(_medications(inp, rule)))
        case "ELIG-C3":
            return _c3(inp)
        case "PROT-1":
            return _accepted_indication(inp)
        case "PROT-2":
            return f"{len(adequate_failed_trials(inp.trials))} adequate failed trial(s)"
        case "PROT-3":
            return _prot3(inp)
        case "PROT-5":
            return _prot5(inp)
        case "PRE-1":
            return _pre1(inp)
        case "PRE-2":
            return _pregnancy_test(inp)
        case "PRE-3":
            return _evidence(_yes(inp, "substance_use_active"), _yes(inp, "substance_use_history"))
        case "PRE-5":
            return None if inp.escort_named else "no escort named in the intake"
    raise KeyError(f"No check is written for rule {rule_id}.")


def _message(rule: Rule, inp: ScreeningInput) -> str:
    if rule.id == "PROT-2":
        count = len(adequate_failed_trials(inp.trials))
        met = "met" if count >= TRD_MIN_FAILED_TRIALS else "not met"
        return (
            f"{count} adequate antidepressant trial(s) without response in the current episode; "
            f"the treatment-resistance definition (at least {TRD_MIN_FAILED_TRIALS}) is {met}."
        )
    return rule.message


def evaluate(inp: ScreeningInput) -> Result:
    table = rule_table()
    findings = []
    for rule in table.rules.values():
        evidence = _checks(rule.id, inp, rule)
        if evidence is not None:
            findings.append(Finding(rule.id, rule.severity, _message(rule, inp), evidence[:500]))
    severities = {f.severity for f in findings}
    if ABSOLUTE in severities:
        status = "ineligible"
    elif RELATIVE in severities:
        status = "needs_review"
    else:
        status = "eligible"
    return Result(
        status=status,
        findings=findings,
        resistance_count=len(adequate_failed_trials(inp.trials)),
        rules_version=table.version,
    )
