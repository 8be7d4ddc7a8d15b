"""Numbers from monitoring.md and protocol.md, overridable in settings (INFUSIONS = {...}).
Every default is the document's; the ⚠️ ones are marked unverified there."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # MON-BP-1: pre-infusion warning; a prescriber acknowledges before start.
    "bp_warn_systolic_mmhg": 140,
    "bp_warn_diastolic_mmhg": 90,
    # MON-BP-2 (pre-infusion, do not start) and MON-BP-3 (during infusion, pause) ⚠️.
    "bp_stop_systolic_mmhg": 180,
    "bp_stop_diastolic_mmhg": 110,
    # MON-BP-5: rise from the pre-infusion baseline.
    "bp_rise_systolic_mmhg": 40,
    "bp_rise_diastolic_mmhg": 25,
    "bp_low_systolic_mmhg": 90,  # MON-BP-6
    "hr_low_bpm": 50,  # MON-HR-1
    "hr_high_bpm": 150,
    "rr_low_per_min": 10,  # MON-RR-1
    "rr_high_per_min": 30,
    "spo2_warn_below_pct": 92,  # MON-O2-1
    "spo2_stop_below_pct": 90,  # MON-O2-2
    "sedation_stop_at_or_below": 2,  # MON-SED-1 (MOAA/S cut-off ⚠️)
    "interval_infusing_min": 10,  # MON-T2
    "interval_recovering_min": 15,  # MON-T4
    "min_observation_min": 60,  # MON-T5
    "overdue_grace_min": 5,  # MON-T6
    "aldrete_min": 9,  # DIS-1
    # MON-5: continuous 3-lead ECG for every patient ("per clinic setting", default on ⚠️);
    # off, only patients with a cardiovascular history in their intake.
    "ecg_monitoring_always": True,
    # DIS-6: follow-up call the day after discharge (default on ⚠️).
    "follow_up_call_next_day": True,
    "padss_min": 9,  # DIS-2
    "pregnancy_test_required": True,  # PRE-2 ⚠️
    # PRE-7: no infusion starts until the day's facility check is recorded at the location.
    "facility_check_required": True,
    # PROT-14 / scales.md §9: scales collected before each infusion; PHQ-9 at every session
    # (clinic rule ⚠️), plus the instruments assigned to the patient. They count for the visit
    # when completed on the visit's local day (no document gives another window).
    "questionnaires_always": ("PHQ-9",),
    # MON-6: pain NRS for pain patients, collected with the visit's questionnaires.
    "questionnaires_pain": ("PAIN-NRS",),
}


def conf(name: str) -> Any:
    overrides = getattr(settings, "INFUSIONS", {}) or {}
    value = overrides.get(name, DEFAULTS[name])
    return Decimal(str(value)) if isinstance(value, float) else value
