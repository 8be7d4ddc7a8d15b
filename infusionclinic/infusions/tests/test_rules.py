"""Pure rules: thresholds by rule id (monitoring.md §3), intervals (MON-T2/T4/T6), dose given."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from infusionclinic.infusions import rules
from infusionclinic.infusions.rules import Reading

NORMAL = {
    "systolic_mmhg": 120,
    "diastolic_mmhg": 75,
    "heart_rate_bpm": 72,
    "spo2_pct": 98,
    "respiratory_rate": 14,
}
BASE = Reading(**NORMAL)


def ids(findings):
    return [f.rule_id for f in findings]


@pytest.mark.parametrize(
    ("values", "rule_id", "level"),
    [
        ({"systolic_mmhg": 180}, "MON-BP-2", "critical"),
        ({"diastolic_mmhg": 110}, "MON-BP-2", "critical"),
        ({"systolic_mmhg": 140}, "MON-BP-1", "warning"),
        ({"diastolic_mmhg": 90}, "MON-BP-1", "warning"),
    ],
)
def test_pre_infusion_bp_gate_rules(values, rule_id, level):
    found = rules.reading_findings(
        Reading(**{**NORMAL, **values}), baseline=None, pre_infusion=True
    )
    assert [(f.rule_id, f.level) for f in found] == [(rule_id, level)]


def test_mon_bp1_boundary_139_89_raises_nothing():
    r = Reading(**{**NORMAL, "systolic_mmhg": 139, "diastolic_mmhg": 89})
    assert rules.reading_findings(r, baseline=None, pre_infusion=True) == []


@pytest.mark.parametrize(
    ("values", "rule_id", "level", "action_word"),
    [
        ({"systolic_mmhg": 180}, "MON-BP-3", "alert", "Pause"),
        ({"diastolic_mmhg": 110, "systolic_mmhg": 150}, "MON-BP-3", "alert", "Pause"),
        ({"systolic_mmhg": 89, "diastolic_mmhg": 60}, "MON-BP-6", "alert", "Pause"),
        ({"heart_rate_bpm": 49}, "MON-HR-1", "alert", "Pause"),
        ({"heart_rate_bpm": 151}, "MON-HR-1", "alert", "Pause"),
        ({"respiratory_rate": 9}, "MON-RR-1", "alert", "Pause"),
        ({"respiratory_rate": 31}, "MON-RR-1", "alert", "Pause"),
        ({"spo2_pct": 91}, "MON-O2-1", "warning", "reposition"),
        ({"spo2_pct": 89}, "MON-O2-2", "critical", "Stop"),
        ({"sedation": 2}, "MON-SED-1", "critical", "Stop"),
    ],
)
def test_each_alert_rule_during_infusion(values, rule_id, level, action_word):
    # A baseline equal to the reading keeps MON-BP-5 (rise) out of the picture.
    r = Reading(**{**NORMAL, **values})
    found = rules.reading_findings(r, baseline=r, pre_infusion=False)
    assert [(f.rule_id, f.level) for f in found] == [(rule_id, level)]
    assert action_word in found[0].action


def test_mon_bp5_rise_from_baseline_40_systolic_or_25_diastolic():
    rise_s = Reading(**{**NORMAL, "systolic_mmhg": 160})
    rise_d = Reading(**{**NORMAL, "diastolic_mmhg": 100})
    below = Reading(**{**NORMAL, "systolic_mmhg": 159, "diastolic_mmhg": 99})
    assert ids(rules.reading_findings(rise_s, baseline=BASE, pre_infusion=False)) == ["MON-BP-5"]
    assert ids(rules.reading_findings(rise_d, baseline=BASE, pre_infusion=False)) == ["MON-BP-5"]
    assert rules.reading_findings(below, baseline=BASE, pre_infusion=False) == []


def test_normal_reading_and_moaas_3_raise_nothing():
    r = Reading(**NORMAL, sedation=3)
    assert rules.reading_findings(r, baseline=BASE, pre_infusion=False) == []


@override_settings(INFUSIONS={"spo2_warn_below_pct": 94})
def test_thresholds_are_settings():
    r = Reading(**{**NORMAL, "spo2_pct": 93})
    assert ids(rules.reading_findings(r, baseline=r, pre_infusion=False)) == ["MON-O2-1"]


T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def test_mon_t6_overdue_after_interval_plus_five_minutes():
    # MON-T2: 10 min while infusing; MON-T4: 15 min in recovery; MON-T6: + 5 min grace.
    assert not rules.reading_overdue(last=T0, infusing=True, now=T0 + timedelta(minutes=15))
    assert rules.reading_overdue(last=T0, infusing=True, now=T0 + timedelta(minutes=15, seconds=1))
    assert not rules.reading_overdue(last=T0, infusing=False, now=T0 + timedelta(minutes=20))
    assert rules.reading_overdue(last=T0, infusing=False, now=T0 + timedelta(minutes=21))


def test_dose_given_excludes_pauses():
    events = [
        ("start", T0),
        ("pause", T0 + timedelta(minutes=10)),
        ("resume", T0 + timedelta(minutes=25)),
        ("stop", T0 + timedelta(minutes=55)),
    ]
    seconds = rules.running_seconds(events, now=T0 + timedelta(hours=3))
    assert seconds == 40 * 60
    # 40 min at 60 mL/h of 1 mg/mL = 40 mg
    dose = rules.dose_given_mg(
        seconds=seconds, rate_ml_per_h=Decimal(60), concentration_mg_per_ml=Decimal(1)
    )
    assert dose == Decimal("40.0")


@settings(max_examples=50, deadline=None)
@given(
    segments=st.lists(
        st.tuples(st.integers(1, 3600), st.integers(1, 3600)), min_size=1, max_size=6
    ),
    rate=st.decimals(min_value=1, max_value=500, places=1),
    concentration=st.decimals(min_value=Decimal("0.1"), max_value=50, places=1),
)
def test_dose_given_is_running_time_times_rate_times_concentration(segments, rate, concentration):
    """Whatever the pause pattern, dose = Σ running seconds / 3600 × rate × concentration."""
    events, at, running = [], T0, 0
    for i, (run_s, pause_s) in enumerate(segments):
        events.append(("start" if i == 0 else "resume", at))
        at += timedelta(seconds=run_s)
        running += run_s
        events.append(("pause" if i < len(segments) - 1 else "stop", at))
        at += timedelta(seconds=pause_s)
    seconds = rules.running_seconds(events, now=at + timedelta(hours=1))
    assert seconds == running
    expected = (Decimal(running) / 3600 * rate * concentration).quantize(Decimal("0.1"))
    dose = rules.dose_given_mg(
        seconds=seconds, rate_ml_per_h=rate, concentration_mg_per_ml=concentration
    )
    assert abs(dose - expected) <= Decimal("0.1")


def test_a_running_pump_counts_until_now():
    assert rules.running_seconds([("start", T0)], now=T0 + timedelta(minutes=5)) == 300


def test_side_effect_catalogue_has_ae_1_to_14():
    assert list(rules.side_effect_catalogue()) == [f"AE-{i}" for i in range(1, 15)]


def test_mon_bp_7_guidance_goes_with_asymptomatic_elevations():
    high = rules.Reading(185, 100, 80, 98, 14)
    [bp3] = rules.reading_findings(high, baseline=None, pre_infusion=False)
    assert bp3.rule_id == "MON-BP-3"
    assert "MON-BP-7" in bp3.action
    assert len(bp3.action) <= 300  # fits VitalAlert.action
    rise = rules.Reading(165, 80, 80, 98, 14)
    base = rules.Reading(120, 80, 80, 98, 14)
    [bp5] = rules.reading_findings(rise, baseline=base, pre_infusion=False)
    assert "MON-BP-7" in bp5.action
