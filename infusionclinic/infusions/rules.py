"""Pure rules of monitoring.md: what a reading holds (MON-1..MON-4), thresholds (MON-BP-*,
MON-HR-1, MON-RR-1, MON-O2-*, MON-SED-1), warning signs recorded by the nurse (MON-BP-4, MON-X-1),
reading intervals (MON-T2/T3/T4/T6), the monitoring plan with its ECG (MON-5), the dose actually
given, the discharge scores (DIS-1/2) and the next-day follow-up call (DIS-6)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from .conf import conf


@dataclass(frozen=True)
class Reading:
    """One full set of vital signs: MON-1 blood pressure and heart rate, MON-2 SpO2 and
    respiratory rate (all required), MON-3 sedation (MOAA/S 0-5, optional). MON-4's dissociation
    (the default clinician 0-3 rating, MON-CADSS) is stored on the reading beside them."""

    systolic_mmhg: int
    diastolic_mmhg: int
    heart_rate_bpm: int
    spo2_pct: int
    respiratory_rate: int
    sedation: int | None = None


@dataclass(frozen=True)
class Finding:
    rule_id: str
    level: str  # warning | alert | critical
    message: str
    action: str


# MON-BP-7: guidance that goes with every asymptomatic elevation during the session.
BP_7 = (
    "MON-BP-7: without symptoms or organ damage, no aggressive IV antihypertensive; "
    "the prescriber decides."
)


def pre_infusion_findings(r: Reading) -> list[Finding]:
    """The blood-pressure gate before start (MON-BP-2 over MON-BP-1)."""
    if r.systolic_mmhg >= conf("bp_stop_systolic_mmhg") or r.diastolic_mmhg >= conf(
        "bp_stop_diastolic_mmhg"
    ):
        return [
            Finding(
                "MON-BP-2",
                "critical",
                f"Pre-infusion BP {r.systolic_mmhg}/{r.diastolic_mmhg} mmHg is at or above "
                f"{conf('bp_stop_systolic_mmhg')}/{conf('bp_stop_diastolic_mmhg')}.",
                "Do not start: repeat the reading; reschedule or refer. "
                "Only a prescriber's recorded override allows a start.",
            )
        ]
    if r.systolic_mmhg >= conf("bp_warn_systolic_mmhg") or r.diastolic_mmhg >= conf(
        "bp_warn_diastolic_mmhg"
    ):
        return [
            Finding(
                "MON-BP-1",
                "warning",
                f"Pre-infusion BP {r.systolic_mmhg}/{r.diastolic_mmhg} mmHg is at or above "
                f"{conf('bp_warn_systolic_mmhg')}/{conf('bp_warn_diastolic_mmhg')}.",
                "A prescriber acknowledges (records a reason) before the start.",
            )
        ]
    return []


def reading_findings(
    r: Reading,
    *,
    baseline: Reading | None,
    pre_infusion: bool,
    active_signs: Iterable[str] = (),
) -> list[Finding]:
    """Every threshold a reading crosses, each with its rule id and suggested action; with the
    warning signs still present (MON-BP-4, MON-X-1) the reading raises their rules too."""
    out: list[Finding] = []
    bp = f"{r.systolic_mmhg}/{r.diastolic_mmhg} mmHg"
    if pre_infusion:
        out += pre_infusion_findings(r)
    elif r.systolic_mmhg >= conf("bp_stop_systolic_mmhg") or r.diastolic_mmhg >= conf(
        "bp_stop_diastolic_mmhg"
    ):
        out.append(
            Finding(
                "MON-BP-3",
                "alert",
                f"BP {bp} during the session.",
                "Pause the pump, recheck in 5 min, notify the prescriber; "
                "resume only on the prescriber's order. " + BP_7,
            )
        )
    if (
        baseline is not None
        and not pre_infusion
        and (
            r.systolic_mmhg - baseline.systolic_mmhg >= conf("bp_rise_systolic_mmhg")
            or r.diastolic_mmhg - baseline.diastolic_mmhg >= conf("bp_rise_diastolic_mmhg")
        )
    ):
        out.append(
            Finding(
                "MON-BP-5",
                "warning",
                f"BP {bp} rose from the baseline "
                f"{baseline.systolic_mmhg}/{baseline.diastolic_mmhg} mmHg.",
                "Recheck and watch the trend. " + BP_7,
            )
        )
    if r.systolic_mmhg < conf("bp_low_systolic_mmhg"):
        out.append(Finding("MON-BP-6", "alert", f"Low BP {bp}.", "Pause the pump and assess."))
    if r.heart_rate_bpm < conf("hr_low_bpm") or r.heart_rate_bpm > conf("hr_high_bpm"):
        out.append(
            Finding(
                "MON-HR-1",
                "alert",
                f"Heart rate {r.heart_rate_bpm}/min outside "
                f"{conf('hr_low_bpm')}-{conf('hr_high_bpm')}.",
                "Pause the pump and assess.",
            )
        )
    if r.respiratory_rate < conf("rr_low_per_min") or r.respiratory_rate > conf("rr_high_per_min"):
        out.append(
            Finding(
                "MON-RR-1",
                "alert",
                f"Respiratory rate {r.respiratory_rate}/min outside "
                f"{conf('rr_low_per_min')}-{conf('rr_high_per_min')}.",
                "Pause the pump and assess.",
            )
        )
    if r.spo2_pct < conf("spo2_stop_below_pct"):
        out.append(
            Finding(
                "MON-O2-2",
                "critical",
                f"SpO2 {r.spo2_pct} % below {conf('spo2_stop_below_pct')} %.",
                "Stop the infusion, give oxygen, support the airway.",
            )
        )
    elif r.spo2_pct < conf("spo2_warn_below_pct"):
        out.append(
            Finding(
                "MON-O2-1",
                "warning",
                f"SpO2 {r.spo2_pct} % below {conf('spo2_warn_below_pct')} % on room air.",
                "Stimulate the patient and reposition.",
            )
        )
    if r.sedation is not None and r.sedation <= conf("sedation_stop_at_or_below"):
        out.append(
            Finding(
                "MON-SED-1",
                "critical",
                f"MOAA/S {r.sedation}: unresponsive to voice.",
                "Stop the infusion and check the airway.",
            )
        )
    out += sign_findings(active_signs, latest=r)
    return out


def ecg_required(*, cardiac_risk: bool) -> bool:
    """MON-5: continuous 3-lead ECG when the patient has cardiac risk, and for everyone while the
    clinic's setting `ecg_monitoring_always` is on (the default ⚠️)."""
    return bool(conf("ecg_monitoring_always") or cardiac_risk)


@dataclass(frozen=True)
class PlanItem:
    rule_id: str
    what: str
    how: str


def monitoring_plan(*, ecg: bool, pain: bool) -> list[PlanItem]:
    """monitoring.md §1-2: what the nurse measures during this session and how often."""
    during, after = conf("interval_infusing_min"), conf("interval_recovering_min")
    items = [
        PlanItem(
            "MON-1",
            "Blood pressure and heart rate",
            f"NIBP cuff: baseline, every {during} min during the infusion, at its end, "
            f"every {after} min after (MON-T1..T4)",
        ),
        PlanItem("MON-2", "SpO2 and respiratory rate", "continuous pulse oximetry"),
        PlanItem("MON-3", "Level of sedation", "MOAA/S 0-5"),
        PlanItem("MON-4", "Dissociation", "clinician rating 0-3 (none/mild/moderate/severe)"),
    ]
    if ecg:
        items.append(PlanItem("MON-5", "ECG rhythm", "continuous 3-lead"))
    items.append(
        PlanItem(
            "MON-6",
            "Side effects and pain NRS" if pain else "Side effects",
            "checklist AE-1..AE-14, graded 1-3" + ("; pain NRS 0-10" if pain else ""),
        )
    )
    return items


def reading_interval(*, infusing: bool) -> timedelta:
    """MON-T2 during the infusion, MON-T4 after it."""
    minutes = conf("interval_infusing_min") if infusing else conf("interval_recovering_min")
    return timedelta(minutes=minutes)


def reading_due_at(*, last: datetime, infusing: bool) -> datetime:
    return last + reading_interval(infusing=infusing)


def end_of_infusion_due(
    *, infusion_ended_at: datetime | None, last_reading_at: datetime | None
) -> datetime | None:
    """MON-T3: one full set at the end of the infusion. While no reading has been taken since the
    pump stopped, the next reading is due at the stop itself (then MON-T4's interval runs)."""
    if infusion_ended_at is None:
        return None
    if last_reading_at is not None and last_reading_at >= infusion_ended_at:
        return None
    return infusion_ended_at


def reading_overdue(*, last: datetime, infusing: bool, now: datetime) -> bool:
    """MON-T6: no reading within the interval plus the grace minutes."""
    grace = timedelta(minutes=conf("overdue_grace_min"))
    return now > reading_due_at(last=last, infusing=infusing) + grace


def running_seconds(events: list[tuple[str, datetime]], *, now: datetime) -> Decimal:
    """Seconds the pump ran: from each start/resume to the next pause/stop (or now)."""
    total = Decimal(0)
    running_since: datetime | None = None
    for action, at in sorted(events, key=lambda e: e[1]):
        if action in ("start", "resume") and running_since is None:
            running_since = at
        elif action in ("pause", "stop") and running_since is not None:
            total += Decimal(str((at - running_since).total_seconds()))
            running_since = None
    if running_since is not None and now > running_since:
        total += Decimal(str((now - running_since).total_seconds()))
    return total


def dose_given_mg(
    *, seconds: Decimal, rate_ml_per_h: Decimal, concentration_mg_per_ml: Decimal
) -> Decimal:
    """Running time × rate × concentration (RATE-7 reversed over what actually ran)."""
    return (seconds / Decimal(3600) * rate_ml_per_h * concentration_mg_per_ml).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )


@dataclass(frozen=True)
class ScoreCriterion:
    """One item of a discharge scale with its words and the words of its 2 / 1 / 0 options."""

    id: str
    name: str
    options: tuple[tuple[int, str], ...]  # (score, words), highest score first


@dataclass(frozen=True)
class ScoreScale:
    id: str  # "aldrete" or "padss"
    name: str
    rule_id: str  # DIS-1 or DIS-2
    items: tuple[ScoreCriterion, ...]


@cache
def discharge_scales() -> dict[str, ScoreScale]:
    """DIS-1 (modified Aldrete) and DIS-2 (PADSS) as data (data/discharge_scores.json): each
    criterion's words and its options' words (issue 21 point 10)."""
    data = json.loads((Path(__file__).parent / "data" / "discharge_scores.json").read_text())
    return {
        key: ScoreScale(
            key,
            scale["name"],
            scale["rule_id"],
            tuple(
                ScoreCriterion(
                    item["id"],
                    item["name"],
                    tuple(
                        sorted(
                            ((int(k), v) for k, v in item["options"].items()),
                            reverse=True,
                        )
                    ),
                )
                for item in scale["items"]
            ),
        )
        for key, scale in data["scales"].items()
    }


ALDRETE_ITEMS = tuple(c.id for c in discharge_scales()["aldrete"].items)  # DIS-1
PADSS_ITEMS = tuple(c.id for c in discharge_scales()["padss"].items)  # DIS-2


def score_total(items: dict[str, int], names: tuple[str, ...], field: str) -> int:
    missing = [n for n in names if n not in items]
    bad = [n for n in names if n in items and items[n] not in (0, 1, 2)]
    if missing or bad:
        from django.core.exceptions import ValidationError

        raise ValidationError({field: ["Score every item 0, 1 or 2: " + ", ".join(names) + "."]})
    return sum(items[n] for n in names)


def follow_up_call_day(*, discharged_at: datetime, tz: tzinfo) -> date | None:
    """DIS-6: a follow-up call on the day after discharge (the location's calendar day), while
    the setting `follow_up_call_next_day` is on (default on ⚠️; the PADSS study used a 24-h
    telephone interview)."""
    if not conf("follow_up_call_next_day"):
        return None
    return discharged_at.astimezone(tz).date() + timedelta(days=1)


@cache
def side_effect_catalogue() -> dict[str, str]:
    """MON-6: the side-effect checklist of monitoring.md §4 (AE-1..AE-14), graded 1-3."""
    data = json.loads((Path(__file__).parent / "data" / "side_effects.json").read_text())
    return {e["id"]: e["name"] for e in data["effects"]}


@dataclass(frozen=True)
class StopReason:
    code: str
    label: str
    requires_text: bool


@cache
def early_stop_reasons() -> dict[str, StopReason]:
    """Issue 21 point 5: why an infusion was stopped before the ordered time
    (data/early_stop_reasons.json)."""
    data = json.loads((Path(__file__).parent / "data" / "early_stop_reasons.json").read_text())
    return {
        r["code"]: StopReason(r["code"], r["label"], bool(r.get("requires_text")))
        for r in data["reasons"]
    }


def ended_early(*, running_seconds: Decimal, duration_min: int) -> bool:
    """Issue 21 point 5: the pump ran for less than the order's infusion time (DOSE-4)."""
    return running_seconds < Decimal(duration_min) * 60


@dataclass(frozen=True)
class WarningSign:
    id: str
    name: str
    rule_id: str  # MON-BP-4 or MON-X-1


@cache
def _signs_data() -> dict:
    return json.loads((Path(__file__).parent / "data" / "warning_signs.json").read_text())


@cache
def warning_signs() -> dict[str, WarningSign]:
    """The symptoms of MON-BP-4 and MON-X-1 a nurse records (data/warning_signs.json)."""
    return {s["id"]: WarningSign(s["id"], s["name"], s["rule_id"]) for s in _signs_data()["signs"]}


def signs_for_side_effect(code: str, grade: int) -> list[str]:
    """The warning signs a graded side effect stands for (e.g. AE-5 headache at grade 3 is a
    severe headache, MON-BP-4)."""
    return [
        m["sign"]
        for m in _signs_data()["side_effects"]
        if m["code"] == code and grade >= m["min_grade"]
    ]


def sign_findings(sign_ids: Iterable[str], *, latest: Reading | None) -> list[Finding]:
    """MON-BP-4: any BP with chest pain, severe headache, new neurological signs, dyspnoea or
    visual loss → stop, emergency protocol. MON-X-1: severe distress, agitation or psychotic
    symptoms → pause/stop, low-stimulus room, the prescriber may give a benzodiazepine.
    One finding per rule, naming its signs and the latest BP (any BP counts)."""
    catalogue = warning_signs()
    by_rule: dict[str, list[str]] = {}
    for sign_id in sign_ids:
        sign = catalogue.get(sign_id)
        if sign is not None and sign.name not in by_rule.setdefault(sign.rule_id, []):
            by_rule[sign.rule_id].append(sign.name)
    bp = (
        f"BP {latest.systolic_mmhg}/{latest.diastolic_mmhg} mmHg"
        if latest is not None
        else "no BP reading yet"
    )
    out: list[Finding] = []
    if "MON-BP-4" in by_rule:
        out.append(
            Finding(
                "MON-BP-4",
                "critical",
                f"{', '.join(by_rule['MON-BP-4'])} with {bp}.",
                "Stop the infusion and start the emergency protocol "
                "(possible hypertensive emergency); call the prescriber.",
            )
        )
    if "MON-X-1" in by_rule:
        out.append(
            Finding(
                "MON-X-1",
                "alert",
                f"{', '.join(by_rule['MON-X-1'])} ({bp}).",
                "Pause or stop the pump; calm the patient in a low-stimulus room; "
                "the prescriber may give a benzodiazepine.",
            )
        )
    return out
