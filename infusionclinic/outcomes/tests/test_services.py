"""Services and selectors against scales.md: submission and scoring, partial answers resumed,
locked responses and amendments, SCALE-4 alerts from submission to acknowledgment (email
included), the score_history contract, and the instrument loader."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.outcomes import services
from infusionclinic.outcomes.instruments import INSTRUMENT_DIR, instruments_sync
from infusionclinic.outcomes.models import (
    Administration,
    Assessment,
    AssessmentStatus,
    InstrumentDefinition,
    SafetyAlert,
)
from infusionclinic.outcomes.scoring import InstrumentDataError
from infusionclinic.outcomes.selectors import (
    ScorePoint,
    open_alerts_for_user,
    score_history,
    scored_assessments,
)
from tests.factories import PatientFactory, make_user

from .factories import submit

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


@pytest.fixture
def nurse(location):
    return make_user("nurse", location)


@pytest.fixture
def prescriber(location):
    return make_user("prescriber", location)


# --- Loading instruments -------------------------------------------------------------------------


def test_the_data_migration_stored_every_shipped_instrument_as_version_1():
    stored = set(InstrumentDefinition.objects.values_list("code", "version"))
    assert stored == {("PHQ-9", 1), ("GAD-7", 1), ("PCL-5", 1), ("PAIN-NRS", 1)}
    phq9 = InstrumentDefinition.objects.get(code="PHQ-9")
    assert phq9.definition["loinc"]["panel"] == "44249-1"  # CODE-S1
    assert phq9.definition["loinc"]["total"] == "44261-6"  # CODE-S2


def test_loading_again_is_a_no_op_and_a_new_version_file_is_added(tmp_path):
    assert instruments_sync(InstrumentDefinition) == []
    for path in INSTRUMENT_DIR.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    data = json.loads((tmp_path / "phq-9.json").read_text())
    data["version"] = 2
    (tmp_path / "phq-9-v2.json").write_text(json.dumps(data))
    assert instruments_sync(InstrumentDefinition, tmp_path) == ["PHQ-9 v2"]
    assert services.instrument_current(code="PHQ-9").version == 2


def test_editing_a_loaded_version_without_raising_it_is_refused(tmp_path):
    data = json.loads((INSTRUMENT_DIR / "gad-7.json").read_text())
    data["name"] = "Edited"
    (tmp_path / "gad-7.json").write_text(json.dumps(data))
    with pytest.raises(InstrumentDataError, match="raise its version"):
        instruments_sync(InstrumentDefinition, tmp_path)


def test_load_instruments_command_reports_nothing_new():
    from io import StringIO

    out = StringIO()
    call_command("load_instruments", stdout=out)
    assert "0 new instrument version(s)." in out.getvalue()


# --- Submission ------------------------------------------------------------------------------


def test_submit_scores_locks_and_audits_the_response(patient, nurse):
    a = submit(patient, "PHQ-9", [2, 2, 2, 2, 1, 1, 1, 1, 0], T0, nurse)
    assert (a.status, a.total, a.severity) == (AssessmentStatus.SUBMITTED, 12, "moderate")
    assert a.is_locked
    assert a.instrument.version == 1  # SCALE-3: the version answered
    assert a.administration == Administration.CLINICIAN
    assert a.completed_at == T0
    event = AuditEvent.objects.get(action=AuditAction.CREATE, object_id=str(a.pk))
    assert event.detail["total"] == 12
    assert event.patient == patient


def test_a_patient_submits_their_own_but_not_someone_elses(location, patient):
    own_user = make_user("patient", patient=patient)
    a = submit(patient, "GAD-7", [0] * 7, T0, own_user)
    assert a.administration == Administration.SELF
    with pytest.raises(PermissionDenied):
        submit(PatientFactory(home_location=location), "GAD-7", [0] * 7, T0, own_user)


def test_front_desk_may_not_enter_answers(location, patient):
    with pytest.raises(PermissionDenied):
        submit(patient, "GAD-7", [0] * 7, T0, make_user("front_desk", location))


def test_submit_refuses_wrong_count_out_of_range_unknown_instrument_and_naive_time(patient, nurse):
    with pytest.raises(ValidationError) as exc:
        submit(patient, "PHQ-9", [0] * 8, T0, nurse)
    assert "answers" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        submit(patient, "PHQ-9", [0] * 8 + [7], T0, nurse)
    assert list(exc.value.message_dict) == ["answers.9"]
    with pytest.raises(ValidationError) as exc:
        submit(patient, "BDI-II", [0], T0, nurse)
    assert "Unknown instrument 'BDI-II'" in exc.value.message_dict["instrument"][0]
    with pytest.raises(ValidationError) as exc:
        submit(patient, "GAD-7", [0] * 7, datetime(2025, 3, 3, 14, 0), nurse)  # noqa: DTZ001
    assert "completed_at" in exc.value.message_dict
    with pytest.raises(ValidationError):
        submit(patient, "GAD-7", [0] * 7, datetime.now(UTC) + timedelta(hours=1), nurse)
    assert not Assessment.objects.exists()


# --- Partial answers resumed -----------------------------------------------------------------


def test_partial_answers_are_saved_resumed_and_completed_in_one_response(patient):
    user = make_user("patient", patient=patient)
    draft = services.assessment_save_draft(
        actor=user, patient=patient, instrument_code="PHQ-9", answers=[1, 1, 1] + [None] * 6
    )
    assert draft.status == AssessmentStatus.DRAFT
    assert draft.total is None  # SCALE-1: no total for an incomplete response
    again = services.assessment_save_draft(
        actor=user, patient=patient, instrument_code="PHQ-9", answers=[1, 1, 1, 2] + [None] * 5
    )
    assert again.pk == draft.pk
    assert again.answers == [1, 1, 1, 2, None, None, None, None, None]
    done = submit(patient, "PHQ-9", [1, 1, 1, 2, 0, 0, 0, 0, 0], T0, user)
    assert done.pk == draft.pk
    assert Assessment.objects.count() == 1
    assert score_history(patient=patient, instrument_code="PHQ-9")[0].total == 5


def test_a_draft_refuses_out_of_range_answers(patient, nurse):
    with pytest.raises(ValidationError) as exc:
        services.assessment_save_draft(
            actor=nurse, patient=patient, instrument_code="PHQ-9", answers=[5] + [None] * 8
        )
    assert list(exc.value.message_dict) == ["answers.1"]


# --- Locked responses and amendments ------------------------------------------------------


def test_a_submitted_response_is_never_reopened_as_a_draft(patient, nurse):
    first = submit(patient, "GAD-7", [1] * 7, T0, nurse)
    draft = services.assessment_save_draft(
        actor=nurse, patient=patient, instrument_code="GAD-7", answers=[0] + [None] * 6
    )
    assert draft.pk != first.pk
    first.refresh_from_db()
    assert first.answers == [1] * 7
    assert first.total == 7


def test_an_amendment_rescores_and_keeps_reason_and_previous_answers(patient, nurse):
    a = submit(patient, "GAD-7", [1] * 7, T0, nurse)
    services.assessment_amend(
        actor=nurse, assessment=a, answers=[3] * 5 + [1, 1], reason="Transcription error"
    )
    a.refresh_from_db()
    assert (a.total, a.severity) == (17, "severe")
    amendment = a.amendments.get()
    assert amendment.previous_answers == [1] * 7
    assert (amendment.previous_total, amendment.new_total) == (7, 17)
    assert amendment.reason == "Transcription error"
    event = AuditEvent.objects.filter(action=AuditAction.UPDATE, object_id=str(a.pk)).get()
    assert event.detail["reason"] == "Transcription error"
    assert event.detail["previous_answers"] == [1] * 7


def test_an_amendment_needs_a_reason_a_change_and_a_staff_role(patient, nurse):
    a = submit(patient, "GAD-7", [1] * 7, T0, nurse)
    with pytest.raises(ValidationError) as exc:
        services.assessment_amend(actor=nurse, assessment=a, answers=[2] * 7, reason="  ")
    assert "reason" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.assessment_amend(actor=nurse, assessment=a, answers=[1] * 7, reason="x")
    assert "answers" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        services.assessment_amend(
            actor=make_user("patient", patient=patient), assessment=a, answers=[2] * 7, reason="x"
        )
    draft = services.assessment_save_draft(
        actor=nurse, patient=patient, instrument_code="GAD-7", answers=[0] + [None] * 6
    )
    with pytest.raises(ValidationError):
        services.assessment_amend(actor=nurse, assessment=draft, answers=[2] * 7, reason="x")
    a.refresh_from_db()
    assert a.total == 7
    assert not a.amendments.exists()


# --- SCALE-4 safety alert ---------------------------------------------------------------------


def test_scale4_item9_alert_from_submission_to_acknowledgment_with_email(
    location, other_location, patient, prescriber, nurse, settings
):
    settings.OUTCOMES_SAFETY_ALERT_EMAIL = "on-call@example.com"
    make_user("prescriber", other_location)  # another location's prescriber: not told
    inactive = make_user("prescriber", location)
    inactive.is_active = False
    inactive.save()
    user = make_user("patient", patient=patient)

    a = submit(patient, "PHQ-9", [1, 1, 1, 1, 1, 1, 1, 1, 1], T0, user)

    alert = SafetyAlert.objects.get()
    assert (alert.rule_id, alert.level, alert.assessment, alert.is_open) == (
        "SCALE-4",
        "critical",
        a,
        True,
    )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == sorted([prescriber.email, "on-call@example.com"])
    assert "SCALE-4" in message.subject
    assert patient.family_name not in message.body  # minimum necessary: no name in mail
    assert open_alerts_for_user(user=prescriber) == [alert]
    # Nurses are clinicians too (SCALE-4; issue 18: the location's nurses get the alert).
    assert open_alerts_for_user(user=nurse) == [alert]
    desk = make_user("front_desk", location)
    assert open_alerts_for_user(user=desk) == []

    with pytest.raises(PermissionDenied):
        services.safety_alert_acknowledge(actor=desk, alert=alert, action_taken="Called")
    with pytest.raises(ValidationError) as exc:
        services.safety_alert_acknowledge(actor=prescriber, alert=alert, action_taken=" ")
    assert "action_taken" in exc.value.message_dict
    assert SafetyAlert.objects.get().is_open

    services.safety_alert_acknowledge(
        actor=prescriber, alert=alert, action_taken="Risk assessment done; safety plan agreed."
    )
    alert.refresh_from_db()
    assert not alert.is_open
    assert alert.acknowledged_by == prescriber
    assert open_alerts_for_user(user=prescriber) == []
    event = AuditEvent.objects.get(action=AuditAction.UPDATE, object_id=str(alert.pk))
    assert event.detail["action_taken"] == "Risk assessment done; safety plan agreed."
    with pytest.raises(ValidationError):
        services.safety_alert_acknowledge(actor=prescriber, alert=alert, action_taken="again")


def test_scale4_no_alert_when_item9_is_0_and_none_from_a_draft(patient, prescriber):
    submit(patient, "PHQ-9", [3] * 8 + [0], T0, prescriber)
    services.assessment_save_draft(
        actor=prescriber, patient=patient, instrument_code="PHQ-9", answers=[None] * 8 + [2]
    )
    assert not SafetyAlert.objects.exists()
    assert mail.outbox == []


def test_scale4_an_amendment_that_raises_item9_raises_the_alert(patient, prescriber):
    a = submit(patient, "PHQ-9", [0] * 9, T0, prescriber)
    services.assessment_amend(
        actor=prescriber, assessment=a, answers=[0] * 8 + [2], reason="Patient corrected item 9"
    )
    assert SafetyAlert.objects.get().assessment == a
    assert len(mail.outbox) == 1
    # Amending again with item 9 still above 0 does not raise a duplicate.
    services.assessment_amend(
        actor=prescriber, assessment=a, answers=[1] + [0] * 7 + [2], reason="Item 1 corrected"
    )
    assert SafetyAlert.objects.count() == 1


# --- score_history contract and baseline ----------------------------------------------------


def test_score_history_contract_submitted_only_oldest_first_since_and_aware(patient, nurse):
    later = submit(patient, "PHQ-9", [2] * 9, T0 + timedelta(days=7), nurse)
    first = submit(patient, "PHQ-9", [3] * 9, T0, nurse)
    submit(patient, "GAD-7", [1] * 7, T0, nurse)
    submit(PatientFactory(home_location=patient.home_location), "PHQ-9", [0] * 9, T0, nurse)
    services.assessment_save_draft(
        actor=nurse, patient=patient, instrument_code="PHQ-9", answers=[0] + [None] * 8
    )

    history = score_history(patient=patient, instrument_code="PHQ-9")
    assert history == [
        ScorePoint(assessment_id=first.pk, completed_at=T0, total=27),
        ScorePoint(assessment_id=later.pk, completed_at=T0 + timedelta(days=7), total=18),
    ]
    assert all(p.completed_at.tzinfo is not None for p in history)
    assert score_history(
        patient=patient, instrument_code="PHQ-9", since=T0 + timedelta(days=1)
    ) == [history[1]]
    assert score_history(patient=patient, instrument_code="PCL-5") == []


def test_response_and_remission_on_a_constructed_phq9_history(patient, nurse):
    """SCALE-2 baseline = first submitted response; response >= 50 % fall, remission < 5."""
    for day, answers in enumerate(
        [[2] * 9, [2] * 5 + [1] * 4, [1] * 9, [1] * 4 + [0] * 5], start=0
    ):
        submit(patient, "PHQ-9", answers, T0 + timedelta(days=7 * day), nurse)
    rows = [
        (
            s.assessment.total,
            s.outcome.change_from_baseline,
            s.outcome.percent_change,
            s.outcome.response,
            s.outcome.remission,
        )
        for s in scored_assessments(patient=patient, instrument_code="PHQ-9")
    ]
    assert rows == [
        (18, 0, 0.0, None, False),
        (14, 4, 22.2, False, False),
        (9, 9, 50.0, True, False),
        (4, 14, 77.8, True, True),
    ]
    since = scored_assessments(
        patient=patient, instrument_code="PHQ-9", since=T0 + timedelta(days=14)
    )
    assert [(s.outcome.change_from_baseline, s.outcome.response) for s in since] == [
        (0, None),
        (5, True),  # 9 -> 4 is a 56 % fall from the later baseline,
    ]
