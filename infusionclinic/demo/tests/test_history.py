"""Issue 21 point 1: `seed_demo` builds about 120 days of care history through the services —
patients at every stage, score series that the scoring engine itself calls response or not, the
protocol's phase decisions and signed (and titrated) dosing orders — deterministic and safe to
re-run, with an audit chain that verifies."""

import random
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import TestCase, override_settings
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.audit.models import AuditEvent
from infusionclinic.courses.models import Phase, PhaseDecision, TreatmentCourse
from infusionclinic.courses.proposals import Action
from infusionclinic.courses.services import phase_decide
from infusionclinic.demo import data
from infusionclinic.demo.history import _answers
from infusionclinic.dosing.models import DosingOrder, OrderStatus
from infusionclinic.dosing.services import dosing_order_revise
from infusionclinic.intake.models import (
    ConsentSignature,
    EligibilityScreening,
    Intake,
    IntakeStatus,
    PrescriberReview,
    Referral,
    ReferralStatus,
)
from infusionclinic.intake.selectors import patient_may_be_booked, screening_latest
from infusionclinic.intake.services import consent_countersign, intake_save
from infusionclinic.outcomes.models import Assessment
from infusionclinic.outcomes.selectors import scored_assessments
from infusionclinic.patients.models import Patient

HISTORY_MODELS = [
    Referral,
    Intake,
    EligibilityScreening,
    PrescriberReview,
    ConsentSignature,
    TreatmentCourse,
    PhaseDecision,
    DosingOrder,
    Assessment,
    AuditEvent,
]


def _seed() -> str:
    out = StringIO()
    with override_settings(DEMO_MODE=True):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


def _patient(given: str, family: str) -> Patient:
    return Patient.objects.get(given_name=given, family_name=family)


def _course(given: str, family: str) -> TreatmentCourse:
    return TreatmentCourse.objects.get(patient=_patient(given, family))


def _stage(stage: str) -> list[tuple[str, str]]:
    return [name for name, story in data.HISTORY.items() if story["stage"] == stage]


class DemoHistoryTests(TestCase):
    """seed_demo runs once for the class; each test reads what it built."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.output = _seed()

    def test_issue21_point1_referred_patients_wait_for_acceptance(self) -> None:
        new = Referral.objects.filter(status=ReferralStatus.NEW, patient__isnull=True)
        assert new.count() == len(data.REFERRALS_NEW) >= 1
        # Every demo patient came in through an accepted referral.
        accepted = Referral.objects.filter(status=ReferralStatus.ACCEPTED)
        assert accepted.count() == Patient.objects.count()

    def test_issue21_point1_patients_in_intake_have_a_draft(self) -> None:
        for name in _stage("intake"):
            intake = Intake.objects.get(patient=_patient(*name))
            assert intake.status == IntakeStatus.DRAFT, name
            assert not TreatmentCourse.objects.filter(patient=intake.patient).exists()

    def test_issue21_point1_screened_out_patients_show_the_absolute_rule(self) -> None:
        names = _stage("screened_out")
        assert names
        for name in names:
            patient = _patient(*name)
            _answer, rule_id = data.HISTORY[name]["finding"]
            view = screening_latest(patient=patient)
            assert view is not None
            assert rule_id in view.rule_ids["absolute"], (name, view.rule_ids)  # ELIG-A3, A7
            allowed, reasons = patient_may_be_booked(patient=patient)
            assert not allowed
            assert any(rule_id in r for r in reasons)
            assert not TreatmentCourse.objects.filter(patient=patient).exists()

    def test_issue21_point1_booked_patients_are_consented_with_a_course_ahead(self) -> None:
        names = _stage("booked")
        assert names
        for name in names:
            course = _course(*name)
            assert course.phase == Phase.INDUCTION
            assert course.started_at > timezone.now()
            assert patient_may_be_booked(patient=course.patient) == (True, [])  # PROT-C1
            assert course.dosing_orders.filter(status=OrderStatus.SIGNED).exists()

    def test_issue21_point1_every_stage_of_a_course_is_present(self) -> None:
        phases = set(TreatmentCourse.objects.values_list("phase", flat=True))
        assert phases == {Phase.INDUCTION, Phase.MAINTENANCE, Phase.DISCONTINUED, Phase.PAUSED}
        for name in _stage("induction"):
            course = _course(*name)
            assert course.phase == Phase.INDUCTION
            assert course.started_at < timezone.now()
        for stage, phase in (
            ("maintenance", Phase.MAINTENANCE),
            ("discontinued", Phase.DISCONTINUED),
            ("paused", Phase.PAUSED),
        ):
            names = _stage(stage)
            assert names, stage
            assert {_course(*n).phase for n in names} == {phase}, stage

    def test_issue21_point1_first_course_starts_about_120_days_ago(self) -> None:
        first = TreatmentCourse.objects.order_by("started_at").first()
        assert first is not None
        tz = first.patient.home_location.tzinfo
        today = timezone.localdate(timezone=tz)
        assert 0 <= (today - first.started_at.astimezone(tz).date()).days - data.HISTORY_DAYS <= 2

    def test_issue21_point1_visits_and_decisions_fall_on_the_clinic_s_weekdays(self) -> None:
        """Infusion days, scale visits and decisions on Monday-Friday (the demo opening hours)."""
        for course in TreatmentCourse.objects.select_related("patient__home_location"):
            tz = course.patient.home_location.tzinfo
            assert course.started_at.astimezone(tz).weekday() < 5, course
            for decision in course.decisions.exclude(from_phase=""):
                assert decision.decided_at.astimezone(tz).weekday() < 5, decision
        for assessment in Assessment.objects.select_related("patient__home_location"):
            tz = assessment.patient.home_location.tzinfo
            assert assessment.completed_at.astimezone(tz).weekday() < 5, assessment

    def test_issue21_point1_decisions_follow_the_protocol_proposal_after_induction(self) -> None:
        """PROT-10 induction (count x weekly interval) ends before the PROT-23 decision, which
        records the protocol's own proposal; non-responders stop straight after induction
        (PROT-24), responders move to maintenance."""
        decisions = PhaseDecision.objects.exclude(from_phase="").select_related("course")
        assert decisions.exists()
        for decision in decisions.filter(from_phase=Phase.INDUCTION):
            course = decision.course
            protocol = course.protocol
            induction_days = protocol.induction_interval_days * (protocol.induction_count - 1)
            assert decision.decided_at >= course.started_at + timedelta(days=induction_days)
            assert decision.decided_at < timezone.now()
            assert decision.proposal_action, decision.reason
        for name in _stage("discontinued"):
            stop = _course(*name).decisions.get(to_phase=Phase.DISCONTINUED)
            assert stop.from_phase == Phase.INDUCTION
            assert stop.proposal_action == Action.DISCONTINUE
            assert "PROT-24" in stop.proposal_rule_ids
        for name in _stage("maintenance"):
            move = _course(*name).decisions.get(to_phase=Phase.MAINTENANCE)
            assert move.proposal_action == Action.MOVE_TO_MAINTENANCE
        extended = PhaseDecision.objects.filter(
            from_phase=Phase.INDUCTION, to_phase=Phase.INDUCTION
        )
        assert extended.count() == 1  # PROT-23: the partial responder, extended once
        assert extended.get().proposal_action == Action.EXTEND_INDUCTION

    def test_issue21_point1_responder_phq9_meets_the_scoring_response_rule(self) -> None:
        """scales.md PHQ-9: response = at least 50 % below the baseline; remission = total < 5."""
        responder = _patient("Jordan", "Avery")  # "remit"
        series = scored_assessments(patient=responder, instrument_code="PHQ-9")
        assert len(series) >= 5
        latest = series[-1].outcome
        assert latest.response is True
        assert latest.remission is True
        no_remission = scored_assessments(
            patient=_patient("Maria", "Gonzalez"), instrument_code="PHQ-9"
        )[-1].outcome
        assert no_remission.response is True
        assert no_remission.remission is False

    def test_issue21_point1_non_responder_phq9_does_not_meet_the_response_rule(self) -> None:
        for name in [n for n in _stage("discontinued") if _course(*n).indication == "depression"]:
            series = scored_assessments(patient=_patient(*name), instrument_code="PHQ-9")
            assert len(series) >= 4, name
            assert all(item.outcome.response is not True for item in series), name

    def test_issue21_point1_scores_are_back_dated_and_the_instruments_fit_the_indication(
        self,
    ) -> None:
        """scales.md section 9: the indication's primary scale, PHQ-9 at every session, GAD-7
        beside it for depression with generalized anxiety (F41.1)."""
        now = timezone.now()
        assert not Assessment.objects.filter(completed_at__gt=now).exists()
        assert Assessment.objects.filter(completed_at__lt=now - timedelta(days=90)).exists()
        for course in TreatmentCourse.objects.all():
            codes = set(
                Assessment.objects.filter(patient=course.patient).values_list(
                    "instrument__code", flat=True
                )
            )
            anxious = course.patient.diagnoses.filter(code__startswith="F41").exists()
            expected = {course.primary_instrument, "PHQ-9"} | ({"GAD-7"} if anxious else set())
            assert codes == expected, course.indication
        assert Assessment.objects.filter(instrument__code="GAD-7").values("patient").distinct()

    def test_issue21_point1_each_course_has_a_signed_order_and_some_are_titrated(self) -> None:
        """LIM-15 prescriber signs; DOSE-3 titration is a new version with its reason."""
        for course in TreatmentCourse.objects.all():
            signed = course.dosing_orders.filter(status=OrderStatus.SIGNED).order_by("version")
            assert signed.exists(), course
            first = signed.first()
            assert first.signed_by.role == "prescriber"
            if course.started_at < timezone.now():
                assert first.signed_at < course.started_at
                assert first.weight_measured_on <= first.signed_at.date()
        titrated = DosingOrder.objects.filter(version=2, status=OrderStatus.SIGNED)
        assert titrated.count() == sum(1 for s in data.HISTORY.values() if "titrate" in s)
        for order in titrated:
            assert order.supersedes is not None
            assert "DOSE-3" in order.change_reason
            assert order.dose_mg != order.supersedes.dose_mg

    def test_issue21_point1_running_it_again_adds_nothing(self) -> None:
        before = {m.__name__: m.objects.count() for m in HISTORY_MODELS}
        again = _seed()
        assert {m.__name__: m.objects.count() for m in HISTORY_MODELS} == before
        assert "0 new care histories" in again

    def test_issue21_point1_the_audit_chain_verifies(self) -> None:
        assert AuditEvent.objects.filter(object_type="courses.TreatmentCourse").count() >= (
            TreatmentCourse.objects.count()
        )
        out = StringIO()
        call_command("verify_audit", stdout=out)
        assert f"Audit chain intact: {AuditEvent.objects.count()} events verified." in (
            out.getvalue()
        )

    def test_issue21_point1_back_dated_services_refuse_impossible_times(self) -> None:
        """The `at` of the services the history uses records a past time only: never the
        future, never before what it follows (the phase's start, the patient's signature)."""
        prescriber = User.objects.get(email="prescriber@demo.clinic")
        course = _course("Jordan", "Avery")
        later = timezone.now() + timedelta(hours=1)
        for at in (later, course.phase_started_at - timedelta(days=1)):
            with pytest.raises(ValidationError) as caught:
                phase_decide(
                    actor=prescriber, course=course, to_phase=Phase.PAUSED, reason="x", at=at
                )
            assert "at" in caught.value.message_dict
        order = course.dosing_orders.order_by("-version").first()
        with pytest.raises(ValidationError) as caught:
            dosing_order_revise(
                actor=prescriber, order=order, change_reason="DOSE-3", changes={}, at=later
            )
        assert "at" in caught.value.message_dict
        signature = ConsentSignature.objects.filter(patient=course.patient).first()
        with pytest.raises(ValidationError):
            consent_countersign(
                actor=prescriber,
                patient=course.patient,
                signature=signature,
                at=signature.signed_at - timedelta(minutes=1),
            )
        draft = Intake.objects.filter(status=IntakeStatus.DRAFT).first()
        with pytest.raises(ValidationError) as caught:
            intake_save(actor=prescriber, patient=draft.patient, values={}, at=later)
        assert "at" in caught.value.message_dict


def test_issue21_point1_answers_add_up_and_spare_phq9_item_9():
    """SCALE-4: no demo PHQ-9 raises the item-9 alert; the same seed gives the same answers."""
    for total in (0, 7, 19, 24):
        answers = _answers(random.Random(1), "PHQ-9", total)
        assert sum(answers) == total
        assert answers[8] == 0
        assert answers == _answers(random.Random(1), "PHQ-9", total)
    assert sum(_answers(random.Random(2), "PCL-5", 54)) == 54
