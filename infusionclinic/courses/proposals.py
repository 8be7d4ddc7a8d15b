"""Phase proposals (../shared/domain/protocol.md §5): a PURE function over a score history.

The system proposes; a prescriber decides (services.phase_decide). Every proposal names the rule
it rests on and the numbers it used. No Django imports: histories are built in tests directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Protocol


class ScorePointLike(Protocol):
    """The shape of infusionclinic.outcomes.selectors.ScorePoint (issue 5), without importing it."""

    @property
    def assessment_id(self) -> int: ...

    @property
    def completed_at(self) -> datetime: ...  # aware

    @property
    def total(self) -> int: ...


class ResponseMeasure(StrEnum):
    PERCENT = "percent"  # PROT-21: % reduction from baseline (PHQ-9, GAD-7, pain NRS)
    POINTS = "points"  # PROT-21: fall in points (PCL-5: ≥ 10)


@dataclass(frozen=True)
class ResponseRule:
    """The protocol's numbers the proposals use (copied from a Protocol version)."""

    measure: ResponseMeasure = ResponseMeasure.PERCENT
    response_threshold: Decimal = Decimal(50)  # PROT-21
    partial_threshold: Decimal | None = Decimal(25)  # PROT-23 ⚠️ (percent measure only)
    remission_below: Decimal | None = None  # PROT-22: total strictly below this = remission
    baseline_window_days: int = 7  # PROT-13 ⚠️
    induction_count: int = 3  # PROT-10
    induction_interval_days: int = 7  # PROT-10
    max_extension_infusions: int = 3  # PROT-23 ⚠️
    maintenance_interval_days: int = 28  # PROT-30
    loss_of_response_count: int = 2  # PROT-32 ⚠️
    reinduction_gap_days: int = 90  # PROT-40 ⚠️


class Action(StrEnum):
    WAIT = "wait"  # nothing to decide yet
    MOVE_TO_MAINTENANCE = "move_to_maintenance"
    EXTEND_INDUCTION = "extend_induction"
    DISCONTINUE = "discontinue"
    NEXT_MAINTENANCE_INFUSION = "next_maintenance_infusion"
    REINDUCTION = "reinduction"
    NO_DECISION_POSSIBLE = "no_decision_possible"


@dataclass(frozen=True)
class Proposal:
    action: Action
    rule_ids: tuple[str, ...]
    explanation: str
    # The numbers used, for display: baseline, current, change, due dates...
    numbers: dict[str, str] = field(default_factory=dict)
    alternatives: tuple[Action, ...] = ()
    due_at: datetime | None = None

    @property
    def title(self) -> str:
        return self.action.value.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Evaluation:
    baseline: ScorePointLike | None
    current: ScorePointLike | None
    change_pct: Decimal | None  # PROT-20, positive = improvement
    change_points: int | None
    responded: bool
    remitted: bool
    partial: bool


def _pct(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def baseline_point(
    history: Sequence[ScorePointLike], *, started_at: datetime, window_days: int
) -> ScorePointLike | None:
    """PROT-13: the latest score within `window_days` before the course (infusion 1) started."""
    earliest = started_at - timedelta(days=window_days)
    before = [p for p in history if earliest <= p.completed_at <= started_at]
    return max(before, key=lambda p: p.completed_at) if before else None


def evaluate(
    baseline: ScorePointLike | None, current: ScorePointLike | None, rule: ResponseRule
) -> Evaluation:
    """PROT-20 (% change), PROT-21 (response), PROT-22 (remission), PROT-23 (partial)."""
    if baseline is None or current is None:
        return Evaluation(baseline, current, None, None, False, False, False)
    points = baseline.total - current.total
    pct = (
        Decimal(points) / Decimal(baseline.total) * 100 if baseline.total else None
    )  # PROT-20: baseline 0 -> not computable
    if rule.measure is ResponseMeasure.POINTS:
        responded = Decimal(points) >= rule.response_threshold
        partial = False
    else:
        responded = pct is not None and pct >= rule.response_threshold
        partial = (
            pct is not None
            and not responded
            and rule.partial_threshold is not None
            and pct >= rule.partial_threshold
        )
    remitted = rule.remission_below is not None and Decimal(current.total) < rule.remission_below
    return Evaluation(baseline, current, pct, points, responded, remitted, partial)


def point_text(point: ScorePointLike) -> str:
    """ "14 (2026-12-01)", or "14 (home check-in, 2026-12-01)" when the point says where it was
    collected (outcomes' ScorePoint.source_label; issue 18 section 2: home scores count too)."""
    source = getattr(point, "source_label", None)
    where = f"{source}, " if source else ""
    return f"{point.total} ({where}{point.completed_at:%Y-%m-%d})"


def _numbers(ev: Evaluation, rule: ResponseRule) -> dict[str, str]:
    out: dict[str, str] = {}
    if ev.baseline is not None:
        out["baseline"] = point_text(ev.baseline)
    if ev.current is not None:
        out["current"] = point_text(ev.current)
    if ev.change_pct is not None:
        out["change_pct"] = _pct(ev.change_pct)
    if ev.change_points is not None:
        out["change_points"] = str(ev.change_points)
    unit = "%" if rule.measure is ResponseMeasure.PERCENT else "points"
    out["response_threshold"] = f"{rule.response_threshold} {unit}"
    if rule.remission_below is not None:
        out["remission_below"] = str(rule.remission_below)
    return out


def propose_end_of_induction(
    history: Sequence[ScorePointLike],
    *,
    rule: ResponseRule,
    started_at: datetime,
    now: datetime,
    extension_infusions_used: int = 0,
    ends_at: datetime | None = None,
) -> Proposal:
    """PROT-23: after the last induction infusion, propose maintenance, extension or stopping.

    The end of induction is the scheduled day of its last infusion (PROT-10: count and spacing)
    plus any extension; until then the proposal is WAIT. `ends_at`, when given, is that day as
    the caller knows it (issue 21 point 8: the booked series, `courses.selectors.induction_end`);
    otherwise it is counted from `started_at` by the plan."""
    if ends_at is None:
        ends_at = started_at + timedelta(
            days=rule.induction_interval_days
            * (rule.induction_count - 1 + extension_infusions_used)
        )
    baseline = baseline_point(history, started_at=started_at, window_days=rule.baseline_window_days)
    after = [p for p in history if p.completed_at > started_at and p.completed_at <= now]
    current = max(after, key=lambda p: p.completed_at) if after else None
    ev = evaluate(baseline, current, rule)
    numbers = _numbers(ev, rule) | {"induction_ends": f"{ends_at:%Y-%m-%d}"}
    if now < ends_at:
        return Proposal(
            Action.WAIT,
            ("PROT-10",),
            f"Induction continues until {ends_at:%Y-%m-%d}.",
            numbers,
            due_at=ends_at,
        )
    if baseline is None:
        return Proposal(
            Action.NO_DECISION_POSSIBLE,
            ("PROT-13", "PROT-20"),
            f"No baseline score in the {rule.baseline_window_days} days before the course "
            "started: response cannot be judged.",
            numbers,
            alternatives=(Action.MOVE_TO_MAINTENANCE, Action.EXTEND_INDUCTION, Action.DISCONTINUE),
        )
    if current is None:
        return Proposal(
            Action.NO_DECISION_POSSIBLE,
            ("PROT-14", "PROT-20"),
            "No score since the course started: collect the post-induction evaluation.",
            numbers,
        )
    if rule.measure is ResponseMeasure.PERCENT and ev.change_pct is None:
        return Proposal(
            Action.NO_DECISION_POSSIBLE,
            ("PROT-20",),
            "Baseline score is 0: % change is not computable.",
            numbers,
        )
    if ev.responded or ev.remitted:
        cited = ("PROT-21", "PROT-22", "PROT-23") if ev.remitted else ("PROT-21", "PROT-23")
        return Proposal(
            Action.MOVE_TO_MAINTENANCE,
            cited,
            "Response" + (" and remission" if ev.remitted else "") + " on the primary scale.",
            numbers,
            alternatives=(Action.DISCONTINUE,),
        )
    if ev.partial and extension_infusions_used < rule.max_extension_infusions:
        return Proposal(
            Action.EXTEND_INDUCTION,
            ("PROT-23",),
            f"Partial response: extend induction once (up to {rule.max_extension_infusions} "
            "more infusions) or stop.",
            numbers,
            alternatives=(Action.DISCONTINUE,),
        )
    return Proposal(
        Action.DISCONTINUE,
        ("PROT-23", "PROT-24"),
        "No response on the primary scale: stop (non-responder); rescheduling needs a new "
        "prescriber decision with a reason.",
        numbers,
        alternatives=(Action.EXTEND_INDUCTION,) if ev.partial else (),
    )


def propose_in_maintenance(
    history: Sequence[ScorePointLike],
    *,
    rule: ResponseRule,
    course_started_at: datetime,
    phase_started_at: datetime,
    now: datetime,
    last_infusion_at: datetime | None = None,
) -> Proposal:
    """PROT-30 next infusion at the interval; PROT-32 loss of response on N consecutive
    assessments -> re-induction (PROT-40); a gap longer than `reinduction_gap_days` -> PROT-40."""
    baseline = baseline_point(
        history, started_at=course_started_at, window_days=rule.baseline_window_days
    )
    in_phase = sorted(
        (p for p in history if phase_started_at <= p.completed_at <= now),
        key=lambda p: p.completed_at,
    )
    anchor = max(phase_started_at, last_infusion_at) if last_infusion_at else phase_started_at
    due = anchor + timedelta(days=rule.maintenance_interval_days)
    numbers: dict[str, str] = {"next_due": f"{due:%Y-%m-%d}"}
    if baseline is not None:
        numbers["baseline"] = point_text(baseline)
    recent = in_phase[-rule.loss_of_response_count :] if rule.loss_of_response_count else []
    if baseline is not None and len(recent) == rule.loss_of_response_count and recent:
        lost = [not evaluate(baseline, p, rule).responded for p in recent]
        if all(lost):
            numbers["recent"] = ", ".join(str(p.total) for p in recent)
            return Proposal(
                Action.REINDUCTION,
                ("PROT-32", "PROT-40"),
                f"No longer meets the response criterion on {len(recent)} consecutive "
                "assessments: loss of response, review for re-induction.",
                numbers,
                alternatives=(Action.NEXT_MAINTENANCE_INFUSION, Action.DISCONTINUE),
            )
    latest_contact = max([anchor, *(p.completed_at for p in in_phase)])
    gap_days = (now - latest_contact).days
    if gap_days > rule.reinduction_gap_days:
        numbers["gap_days"] = str(gap_days)
        return Proposal(
            Action.REINDUCTION,
            ("PROT-40",),
            f"{gap_days} days without treatment (more than {rule.reinduction_gap_days}): a new "
            "induction may be needed.",
            numbers,
            alternatives=(Action.NEXT_MAINTENANCE_INFUSION,),
        )
    return Proposal(
        Action.NEXT_MAINTENANCE_INFUSION,
        ("PROT-30",),
        f"Next maintenance infusion due {due:%Y-%m-%d} (every {rule.maintenance_interval_days} "
        "days).",
        numbers,
        due_at=due,
    )
