"""Infusion procedure codes from the pump's running time (codes.md CODE-PX1, PX2, PX3, PX-R1).

Pure functions: the running time is what the infusion session's pump events say (start, pause,
resume, stop; pauses do not count), never a number typed on the invoice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

INFUSION_INITIAL = "96365"  # CODE-PX1: initial infusion, up to 1 h; must run > 15 min
INFUSION_ADDED_HOUR = "96366"  # CODE-PX2: each added hour, > 30 min beyond the previous hour
IV_PUSH = "96374"  # CODE-PX3: an "infusion" of 15 min or less is a push (CODE-PX1)
INFUSION_CODES = frozenset({INFUSION_INITIAL, INFUSION_ADDED_HOUR})
RULE_IDS = {INFUSION_INITIAL: "CODE-PX1", INFUSION_ADDED_HOUR: "CODE-PX2", IV_PUSH: "CODE-PX3"}

PUSH_MAX = timedelta(minutes=15)  # CODE-PX1
ADDED_HOUR_MIN_BEYOND = timedelta(minutes=30)  # CODE-PX2


def added_hours(running: timedelta) -> int:
    """CODE-PX2: units of 96366. The first counts when the infusion runs more than 30 min beyond
    the first hour (> 1 h 30 min), the second beyond 2 h 30 min, and so on."""
    count = 0
    while running > timedelta(hours=1 + count) + ADDED_HOUR_MIN_BEYOND:
        count += 1
    return count


def infusion_code_units(running: timedelta) -> list[tuple[str, int]]:
    """(code, units) billed for a pump that ran `running` in total.

    No running time: nothing. Up to 15 min: the push code (CODE-PX1 "<= 15 min -> push code",
    CODE-PX3). Longer: 96365 once (CODE-PX1) plus 96366 per added hour (CODE-PX2)."""
    if running <= timedelta(0):
        return []
    if running <= PUSH_MAX:
        return [(IV_PUSH, 1)]
    lines = [(INFUSION_INITIAL, 1)]
    extra = added_hours(running)
    if extra:
        lines.append((INFUSION_ADDED_HOUR, extra))
    return lines


@dataclass(frozen=True)
class DerivedCode:
    """One line `infusion_code_units` derives, with the rule and the reason, for display."""

    code: str
    units: int
    rule_id: str
    reason: str


def infusion_code_derivation(running: timedelta) -> list[DerivedCode]:
    """`infusion_code_units(running)` with each code's rule id and why it applies."""
    reasons = {
        IV_PUSH: "ran 15 min or less: push code (CODE-PX1, CODE-PX3)",
        INFUSION_INITIAL: "ran more than 15 min: initial infusion, up to 1 h (CODE-PX1)",
        INFUSION_ADDED_HOUR: "each hour beyond the first run for more than 30 min (CODE-PX2)",
    }
    return [
        DerivedCode(code, units, RULE_IDS[code], reasons[code])
        for code, units in infusion_code_units(running)
    ]
