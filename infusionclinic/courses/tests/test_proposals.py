"""Phase proposals on constructed score histories (protocol.md PROT-10..PROT-40)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from infusionclinic.courses.proposals import (
    Action,
    ResponseMeasure,
    ResponseRule,
    propose_end_of_induction,
    propose_in_maintenance,
)


@dataclass(frozen=True)
class Point:  # the shape of outcomes.selectors.ScorePoint
    assessment_id: int
    completed_at: datetime
    total: int


START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PHQ9 = ResponseRule(remission_below=D(5))  # PROT-21 50 %, PROT-22 PHQ-9 < 5, PROT-10 3 weekly
PCL5 = ResponseRule(
    measure=ResponseMeasure.POINTS, response_threshold=D(10), partial_threshold=None
)


def history(*pairs):
    """(day offset from START, total) -> points; day -1 is the baseline."""
    return [Point(i, START + timedelta(days=day), total) for i, (day, total) in enumerate(pairs, 1)]


END = START + timedelta(days=14)  # 3 weekly infusions: day 0, 7, 14 (PROT-10)


def test_prot10_before_the_last_induction_infusion_the_proposal_is_to_wait():
    p = propose_end_of_induction(
        history((-1, 20), (7, 8)), rule=PHQ9, started_at=START, now=END - timedelta(days=1)
    )
    assert p.action is Action.WAIT
    assert p.rule_ids == ("PROT-10",)
    assert p.due_at == END


def test_prot21_response_50_percent_proposes_maintenance_with_the_numbers():
    p = propose_end_of_induction(
        history((-1, 20), (7, 14), (14, 10)), rule=PHQ9, started_at=START, now=END
    )
    assert p.action is Action.MOVE_TO_MAINTENANCE
    assert p.rule_ids == ("PROT-21", "PROT-23")
    assert p.numbers["baseline"].startswith("20")
    assert p.numbers["current"].startswith("10")
    assert p.numbers["change_pct"] == "50.0"


def test_prot22_remission_is_cited_when_below_cutoff():
    p = propose_end_of_induction(history((-1, 8), (14, 4)), rule=PHQ9, started_at=START, now=END)
    assert p.action is Action.MOVE_TO_MAINTENANCE
    assert "PROT-22" in p.rule_ids


def test_prot23_partial_response_proposes_extending_induction():
    p = propose_end_of_induction(history((-1, 20), (14, 14)), rule=PHQ9, started_at=START, now=END)
    assert p.action is Action.EXTEND_INDUCTION  # 30 %: between 25 and 49 %
    assert p.rule_ids == ("PROT-23",)
    assert Action.DISCONTINUE in p.alternatives


def test_prot23_partial_response_after_the_extension_is_used_proposes_stopping():
    p = propose_end_of_induction(
        history((-1, 20), (35, 14)),
        rule=PHQ9,
        started_at=START,
        now=END + timedelta(days=21),
        extension_infusions_used=3,
    )
    assert p.action is Action.DISCONTINUE


def test_prot23_prot24_no_response_proposes_discontinue():
    p = propose_end_of_induction(history((-1, 20), (14, 18)), rule=PHQ9, started_at=START, now=END)
    assert p.action is Action.DISCONTINUE
    assert p.rule_ids == ("PROT-23", "PROT-24")
    assert p.numbers["change_pct"] == "10.0"


def test_prot13_baseline_older_than_the_window_means_no_decision():
    p = propose_end_of_induction(history((-8, 20), (14, 5)), rule=PHQ9, started_at=START, now=END)
    assert p.action is Action.NO_DECISION_POSSIBLE
    assert "PROT-13" in p.rule_ids


def test_prot20_baseline_zero_is_not_computable():
    p = propose_end_of_induction(
        history((-1, 0), (14, 0)), rule=ResponseRule(), started_at=START, now=END
    )
    assert p.action is Action.NO_DECISION_POSSIBLE
    assert p.rule_ids == ("PROT-20",)


def test_prot21_pcl5_response_is_a_10_point_fall():
    yes = propose_end_of_induction(
        history((-1, 50), (14, 40)), rule=PCL5, started_at=START, now=END
    )
    no = propose_end_of_induction(history((-1, 50), (14, 41)), rule=PCL5, started_at=START, now=END)
    assert yes.action is Action.MOVE_TO_MAINTENANCE
    assert no.action is Action.DISCONTINUE


MAINT = START + timedelta(days=15)


def test_prot30_maintenance_proposes_the_next_infusion_at_the_interval():
    p = propose_in_maintenance(
        history((-1, 20), (14, 8)),
        rule=PHQ9,
        course_started_at=START,
        phase_started_at=MAINT,
        now=MAINT + timedelta(days=3),
    )
    assert p.action is Action.NEXT_MAINTENANCE_INFUSION
    assert p.rule_ids == ("PROT-30",)
    assert p.due_at == MAINT + timedelta(days=28)


def test_prot32_two_consecutive_non_response_scores_propose_reinduction():
    p = propose_in_maintenance(
        history((-1, 20), (14, 8), (43, 12), (71, 13)),
        rule=PHQ9,
        course_started_at=START,
        phase_started_at=MAINT,
        now=START + timedelta(days=72),
    )
    assert p.action is Action.REINDUCTION
    assert p.rule_ids == ("PROT-32", "PROT-40")
    assert p.numbers["recent"] == "12, 13"


def test_prot32_one_bad_score_then_a_good_one_is_not_loss_of_response():
    p = propose_in_maintenance(
        history((-1, 20), (43, 12), (71, 9)),
        rule=PHQ9,
        course_started_at=START,
        phase_started_at=MAINT,
        now=START + timedelta(days=72),
    )
    assert p.action is Action.NEXT_MAINTENANCE_INFUSION


def test_prot40_a_gap_longer_than_90_days_proposes_reinduction():
    p = propose_in_maintenance(
        history((-1, 20), (20, 8)),
        rule=PHQ9,
        course_started_at=START,
        phase_started_at=MAINT,
        now=START + timedelta(days=20 + 91),
    )
    assert p.action is Action.REINDUCTION
    assert p.rule_ids == ("PROT-40",)
