"""The scoring engine against scales.md: every instrument at each band edge, totals and bands
for any answers (hypothesis), response and remission, answer checks naming the item."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infusionclinic.outcomes import scoring
from infusionclinic.outcomes.instruments import read_definition_files

from .factories import answers_for_total, shipped_specs

SPECS = shipped_specs()

# Band edges written out from scales.md, not read from the data files they check.
BAND_EDGES = {
    # scales.md section 2 (Kroenke 2001): 0-4, 5-9, 10-14, 15-19, 20-27
    "PHQ-9": [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (27, "severe"),
    ],
    # scales.md section 3 (Spitzer 2006): 0-4, 5-9, 10-14, 15-21
    "GAD-7": [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
    # scales.md section 4: no empirically derived bands; total 0-80
    "PCL-5": [(0, None), (80, None)],
    # scales.md section 5: a 0-10 rating, no bands given
    "PAIN-NRS": [(0, None), (10, None)],
}
ITEM_COUNTS = {"PHQ-9": 9, "GAD-7": 7, "PCL-5": 20, "PAIN-NRS": 1}
RANGES = {"PHQ-9": (0, 27), "GAD-7": (0, 21), "PCL-5": (0, 80), "PAIN-NRS": (0, 10)}


def test_the_shipped_instruments_are_the_four_scales_md_marks_free_to_embed_or_generic():
    assert set(SPECS) == {"PHQ-9", "GAD-7", "PCL-5", "PAIN-NRS"}


@pytest.mark.parametrize("code", sorted(ITEM_COUNTS))
def test_each_instrument_has_the_item_count_and_total_range_of_scales_md(code):
    spec = SPECS[code]
    assert len(spec.items) == ITEM_COUNTS[code]
    assert (spec.total_min, spec.total_max) == RANGES[code]


@pytest.mark.parametrize(
    ("code", "total", "band"),
    [(code, total, band) for code, edges in BAND_EDGES.items() for total, band in edges],
)
def test_every_instrument_is_scored_at_each_band_edge(code, total, band):
    spec = SPECS[code]
    result = scoring.score(spec, answers_for_total(spec, total))
    assert result.total == total
    assert (result.band.label if result.band else None) == band


@pytest.mark.parametrize("code", ["PHQ-9", "GAD-7"])
def test_phq9_and_gad7_items_score_0_to_3_with_the_frequency_labels(code):
    for item in SPECS[code].items:
        assert [(o.value, o.label) for o in item.options] == [
            (0, "Not at all"),
            (1, "Several days"),
            (2, "More than half the days"),
            (3, "Nearly every day"),
        ]


def test_pcl5_reports_the_four_dsm5_cluster_sums():
    spec = SPECS["PCL-5"]
    answers = [1] * 5 + [2] * 2 + [3] * 7 + [4] * 6  # B 1-5, C 6-7, D 8-14, E 15-20
    result = scoring.score(spec, answers)
    assert result.subscales == {"B": 5, "C": 4, "D": 21, "E": 24}
    assert result.total == 54


@st.composite
def instrument_and_answers(draw):
    code = draw(st.sampled_from(sorted(SPECS)))
    spec = SPECS[code]
    answers = [draw(st.sampled_from(sorted(item.values))) for item in spec.items]
    return spec, answers


@settings(max_examples=50, deadline=None)
@given(instrument_and_answers())
def test_total_is_the_item_sum_and_falls_in_exactly_one_band(case):
    spec, answers = case
    result = scoring.score(spec, answers)
    assert result.total == sum(answers)  # SCALE-1: plain sum, no imputation
    assert spec.total_min <= result.total <= spec.total_max
    matching = [b for b in spec.bands if b.min <= result.total <= b.max]
    assert len(matching) == (1 if spec.bands else 0)
    assert result.band == (matching[0] if matching else None)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 27), st.integers(0, 27))
def test_phq9_response_is_a_fall_of_at_least_half_the_baseline(baseline, current):
    got = scoring.outcome(SPECS["PHQ-9"], baseline_total=baseline, total=current, is_baseline=False)
    assert got.change_from_baseline == baseline - current
    assert got.percent_change == round((baseline - current) / baseline * 100, 1)  # SCALE-2
    assert got.response is ((baseline - current) * 2 >= baseline)
    assert got.remission is (current < 5)


def test_phq9_response_at_exactly_50_percent_and_not_just_below():
    spec = SPECS["PHQ-9"]
    assert scoring.outcome(spec, baseline_total=20, total=10, is_baseline=False).response is True
    assert scoring.outcome(spec, baseline_total=20, total=11, is_baseline=False).response is False
    assert scoring.outcome(spec, baseline_total=19, total=10, is_baseline=False).response is False


def test_phq9_remission_below_5_with_the_setting(settings):
    spec = SPECS["PHQ-9"]
    assert scoring.outcome(spec, baseline_total=20, total=4, is_baseline=False).remission is True
    assert scoring.outcome(spec, baseline_total=20, total=5, is_baseline=False).remission is False
    settings.OUTCOMES_PHQ9_REMISSION_BELOW = 6
    assert scoring.outcome(spec, baseline_total=20, total=5, is_baseline=False).remission is True


def test_the_baseline_itself_has_no_response_yet():
    got = scoring.outcome(SPECS["PHQ-9"], baseline_total=18, total=18, is_baseline=True)
    assert (got.change_from_baseline, got.percent_change, got.response) == (0, 0.0, None)
    assert got.remission is False


def test_a_zero_baseline_has_no_percent_change_and_no_percent_response():
    got = scoring.outcome(SPECS["PHQ-9"], baseline_total=0, total=3, is_baseline=False)
    assert got.percent_change is None
    assert got.response is None


def test_pcl5_response_is_a_fall_of_10_points_and_remission_is_below_the_cutoff_33():
    spec = SPECS["PCL-5"]
    assert scoring.outcome(spec, baseline_total=50, total=40, is_baseline=False).response is True
    assert scoring.outcome(spec, baseline_total=50, total=41, is_baseline=False).response is False
    assert scoring.outcome(spec, baseline_total=50, total=32, is_baseline=False).remission is True
    assert scoring.outcome(spec, baseline_total=50, total=33, is_baseline=False).remission is False


def test_pain_nrs_response_at_30_percent_substantial_at_50_and_no_remission_rule():
    spec = SPECS["PAIN-NRS"]
    moderate = scoring.outcome(spec, baseline_total=10, total=7, is_baseline=False)
    assert moderate.response is True
    assert moderate.flags == ()
    assert scoring.outcome(spec, baseline_total=10, total=8, is_baseline=False).response is False
    substantial = scoring.outcome(spec, baseline_total=10, total=5, is_baseline=False)
    assert substantial.flags == ("substantial improvement (>= 50 %, IMMPACT)",)
    assert substantial.remission is None


def test_gad7_response_and_remission_follow_their_settings(settings):
    spec = SPECS["GAD-7"]
    assert scoring.outcome(spec, baseline_total=12, total=6, is_baseline=False).response is True
    settings.OUTCOMES_GAD7_RESPONSE_PERCENT = 60
    assert scoring.outcome(spec, baseline_total=12, total=6, is_baseline=False).response is False
    assert scoring.outcome(spec, baseline_total=12, total=4, is_baseline=False).remission is True


def test_scale4_phq9_item_9_at_1_or_more_triggers_the_alert_rule():
    spec = SPECS["PHQ-9"]
    assert scoring.triggered_alerts(spec, [3] * 8 + [0]) == []
    for value in (1, 2, 3):
        (rule,) = scoring.triggered_alerts(spec, [0] * 8 + [value])
        assert (rule.rule_id, rule.item, rule.level) == ("SCALE-4", 9, "critical")


def test_answer_errors_name_the_item():
    spec = SPECS["PHQ-9"]
    assert scoring.answer_errors(spec, [0] * 8, complete=True) == {
        "answers": ["PHQ-9 has 9 items; 8 answers were sent (item 9 missing)."]
    }
    errors = scoring.answer_errors(spec, [0, 4, 0, 0, -1, 0, 0, 0, None], complete=True)
    assert set(errors) == {"answers.2", "answers.5", "answers.9"}
    assert errors["answers.2"] == ["Item 2: 4 is not one of the answers (0, 1, 2, 3)."]
    assert scoring.answer_errors(spec, [0, None, 1] + [None] * 6, complete=False) == {}
    assert "answers.1" in scoring.answer_errors(spec, [True] + [0] * 8, complete=True)


def test_scale1_an_incomplete_set_is_never_scored():
    with pytest.raises(ValueError, match="complete"):
        scoring.score(SPECS["PHQ-9"], [0] * 8 + [None])


def _phq9():
    return next(d for d in read_definition_files() if d["code"] == "PHQ-9")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["bands"].pop(), "bands must cover 0-27"),
        (lambda d: d["bands"][1].update(min=6), "bands must cover"),
        (lambda d: d["scoring"].update(max=30), "scoring min/max must be 0/27"),
        (lambda d: d["items"][2].update(number=7), "numbered 1, 2, 3"),
        (lambda d: d["alerts"][0].update(item=10), "names no item"),
        (lambda d: d["response"].update(kind="vibes"), "kind 'vibes'"),
        (lambda d: d.pop("licence"), "'licence' is missing"),
    ],
)
def test_a_malformed_definition_is_refused_at_load_time_with_the_reason(change, message):
    data = _phq9()
    change(data)
    with pytest.raises(scoring.InstrumentDataError, match=message):
        scoring.parse_definition(data)


def test_item_text_is_refused_where_the_licence_does_not_allow_it():
    data = _phq9()
    data["licence"]["embed_item_text"] = False
    data["items"][0]["text"] = "wording"
    with pytest.raises(scoring.InstrumentDataError, match="licence forbids"):
        scoring.parse_definition(data)
