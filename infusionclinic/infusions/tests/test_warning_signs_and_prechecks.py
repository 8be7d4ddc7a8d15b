"""Issue 7 gaps: alerts from what the nurse records (MON-BP-4, MON-X-1), questionnaires read
from outcomes at the pre-checks (PROT-14, scales.md §9, SCALE-4), and today's weight written to
the chart (WT-8)."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.infusions import rules, services
from infusionclinic.infusions.models import PreCheck, SessionState, VitalAlert
from infusionclinic.patients.models import BodyMeasurement
from tests.factories import api_client, logged_in_client

from .factories import NORMAL, checked_in, infusing, questionnaires_done, vitals


def _precheck(nurse, session, **kwargs):
    data = {"fasting_confirmed": True, "pregnancy_test": "negative", "weight_kg": "81.5"}
    return services.session_precheck_record(actor=nurse, session=session, **{**data, **kwargs})


# --- MON-BP-4 / MON-X-1: the rules -------------------------------------------------------------


def test_mon_bp_4_any_bp_with_chest_pain_is_critical_stop_and_emergency_protocol():
    reading = rules.Reading(128, 80, 70, 98, 14)  # a normal BP still counts ("any BP")
    [finding] = rules.sign_findings(["chest_pain"], latest=reading)
    assert finding.rule_id == "MON-BP-4"
    assert finding.level == "critical"
    assert "128/80" in finding.message
    assert "Stop the infusion" in finding.action
    assert "emergency protocol" in finding.action


@pytest.mark.parametrize(
    "sign", ["chest_pain", "severe_headache", "neuro_signs", "dyspnoea", "visual_loss"]
)
def test_mon_bp_4_each_sign_of_the_document(sign):
    assert [f.rule_id for f in rules.sign_findings([sign], latest=None)] == ["MON-BP-4"]


@pytest.mark.parametrize("sign", ["severe_distress", "agitation", "psychotic"])
def test_mon_x_1_each_sign_pauses_with_low_stimulus_and_benzodiazepine(sign):
    [finding] = rules.sign_findings([sign], latest=None)
    assert (finding.rule_id, finding.level) == ("MON-X-1", "alert")
    assert "low-stimulus" in finding.action
    assert "benzodiazepine" in finding.action


def test_graded_side_effects_stand_for_warning_signs():
    assert rules.signs_for_side_effect("AE-5", 3) == ["severe_headache"]  # MON-BP-4
    assert rules.signs_for_side_effect("AE-5", 2) == []  # a moderate headache is not "severe"
    assert rules.signs_for_side_effect("AE-6", 3) == ["severe_distress"]  # MON-X-1
    assert rules.signs_for_side_effect("AE-4", 3) == []


# --- MON-BP-4 / MON-X-1: through the services ---------------------------------------------------


def test_mon_bp_4_symptom_raises_alert_with_latest_bp(nurse, session):
    infusing(nurse, session)
    vitals(nurse, session, systolic_mmhg=150, diastolic_mmhg=95)
    symptom = services.symptom_record(actor=nurse, session=session, code="chest_pain")
    alert = VitalAlert.objects.get(symptom=symptom)
    assert (alert.rule_id, alert.level) == ("MON-BP-4", "critical")
    assert "150/95" in alert.message
    assert AuditEvent.objects.filter(detail__event="symptom", detail__alerts=["MON-BP-4"]).exists()


def test_mon_x_1_agitation_alert_must_be_acknowledged_before_resume(nurse, session):
    infusing(nurse, session)
    services.pump_event_record(actor=nurse, session=session, action="pause", reason="agitated")
    services.symptom_record(actor=nurse, session=session, code="agitation")
    alert = session.alerts.get(rule_id="MON-X-1")
    with pytest.raises(ValidationError):
        services.pump_event_record(actor=nurse, session=session, action="resume")
    services.alert_acknowledge(actor=nurse, alert=alert, note="quiet room, settled")
    services.pump_event_record(actor=nurse, session=session, action="resume")
    session.refresh_from_db()
    assert session.state == SessionState.INFUSING


def test_mon_bp_4_side_effect_severe_headache_raises_alert(nurse, session):
    infusing(nurse, session)
    mild = services.side_effect_record(actor=nurse, session=session, code="AE-5", grade=1)
    assert not mild.alerts.exists()
    severe = services.side_effect_record(actor=nurse, session=session, code="AE-5", grade=3)
    assert [a.rule_id for a in severe.alerts.all()] == ["MON-BP-4"]


def test_sign_still_present_raises_rule_again_with_the_next_reading_once_acknowledged(
    nurse, session
):
    infusing(nurse, session)
    services.symptom_record(actor=nurse, session=session, code="dyspnoea")
    # While the first alert waits, a reading does not duplicate it.
    first = vitals(nurse, session)
    assert not first.alerts.filter(rule_id="MON-BP-4").exists()
    services.alert_acknowledge(actor=nurse, alert=session.alerts.get(rule_id="MON-BP-4"))
    second = vitals(nurse, session, systolic_mmhg=165, diastolic_mmhg=100)
    [again] = second.alerts.filter(rule_id="MON-BP-4")
    assert "165/100" in again.message
    # Once the sign is resolved, readings no longer raise it.
    services.alert_acknowledge(actor=nurse, alert=again)
    services.symptom_resolve(actor=nurse, symptom=session.symptoms.get())
    assert not vitals(nurse, session).alerts.filter(rule_id="MON-BP-4").exists()


def test_start_refused_while_a_warning_sign_alert_is_open(nurse, session):
    checked_in(nurse, session)
    vitals(nurse, session)
    questionnaires_done(nurse, session)
    _precheck(nurse, session)
    services.symptom_record(actor=nurse, session=session, code="severe_distress")
    with pytest.raises(ValidationError) as err:
        services.pump_event_record(actor=nurse, session=session, action="start")
    assert "MON-X-1" in str(err.value)


def test_api_symptom_and_side_effect_answer_with_alerts(nurse, session):
    infusing(nurse, session)
    client = api_client(nurse)
    r = client.post(
        f"/api/v1/sessions/{session.pk}/symptoms",
        data=json.dumps({"code": "visual_loss"}),
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    [alert] = r.json()["alerts"]
    assert (alert["rule_id"], alert["level"]) == ("MON-BP-4", "critical")
    assert set(alert) >= {"rule_id", "level", "message", "action"}
    r = client.post(
        f"/api/v1/sessions/{session.pk}/side-effects",
        data=json.dumps({"code": "AE-12", "grade": 2}),
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    assert [a["rule_id"] for a in r.json()["alerts"]] == ["MON-X-1"]
    r = client.post(
        f"/api/v1/sessions/{session.pk}/symptoms",
        data=json.dumps({"code": "not-a-sign"}),
        content_type="application/json",
    )
    assert r.status_code == 422


def test_api_vitals_answer_carries_mon_bp_4_while_the_sign_is_present(nurse, session):
    infusing(nurse, session)
    symptom = services.symptom_record(actor=nurse, session=session, code="neuro_signs")
    services.alert_acknowledge(actor=nurse, alert=symptom.alerts.get())
    r = api_client(nurse).post(
        f"/api/v1/sessions/{session.pk}/vitals",
        data=json.dumps({**NORMAL, "taken_at": timezone.now().isoformat()}),
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    assert [a["rule_id"] for a in r.json()["alerts"]] == ["MON-BP-4"]


def test_page_records_a_warning_sign_and_shows_its_alert(nurse, session):
    infusing(nurse, session)
    client = logged_in_client(nurse)
    r = client.post(
        f"/infusions/sessions/{session.pk}/symptom/", {"code": "psychotic", "note": "paranoid"}
    )
    assert r.status_code == 302
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Acknowledge MON-X-1" in page


# --- Pre-checks: questionnaires from outcomes, weight to the chart ------------------------------


def test_prot_14_pre_checks_refused_until_phq9_submitted_for_the_visit(nurse, session):
    checked_in(nurse, session)
    vitals(nurse, session)
    with pytest.raises(ValidationError) as err:
        _precheck(nurse, session)
    assert "PHQ-9" in " ".join(err.value.message_dict["questionnaires"])
    questionnaires_done(nurse, session)
    precheck = _precheck(nurse, session)
    assert precheck.questionnaires_done
    assert [q["code"] for q in precheck.questionnaires] == ["PHQ-9"]


def test_prot_14_assigned_instruments_are_required_too(nurse, session, prescriber):
    from infusionclinic.outcomes.services import instrument_assign

    instrument_assign(actor=prescriber, patient=session.patient, instrument_code="GAD-7")
    checked_in(nurse, session)
    vitals(nurse, session)
    questionnaires_done(nurse, session)
    with pytest.raises(ValidationError) as err:
        _precheck(nurse, session)
    assert "GAD-7" in " ".join(err.value.message_dict["questionnaires"])


def test_prot_14_an_assessment_from_an_earlier_day_does_not_count(nurse, session):
    from infusionclinic.outcomes.services import assessment_submit

    assessment_submit(
        actor=nurse,
        patient=session.patient,
        instrument_code="PHQ-9",
        answers=[0] * 9,
        completed_at=timezone.now() - timedelta(days=2),
    )
    checked_in(nurse, session)
    vitals(nurse, session)
    with pytest.raises(ValidationError):
        _precheck(nurse, session)


def test_scale_4_open_item_9_alert_blocks_pre_checks(nurse, session):
    from infusionclinic.outcomes.services import assessment_submit

    checked_in(nurse, session)
    vitals(nurse, session)
    assessment_submit(
        actor=nurse,
        patient=session.patient,
        instrument_code="PHQ-9",
        answers=[0, 0, 0, 0, 0, 0, 0, 0, 1],
    )
    with pytest.raises(ValidationError) as err:
        _precheck(nurse, session)
    assert "SCALE-4" in " ".join(err.value.message_dict["questionnaires"])


def test_todays_weight_is_written_to_the_chart_and_audited(nurse, session):
    checked_in(nurse, session)
    vitals(nurse, session)
    questionnaires_done(nurse, session)
    precheck = _precheck(nurse, session, weight_kg="81.5")
    latest = BodyMeasurement.objects.filter(patient=session.patient, kind="weight").first()
    assert latest.value_si == pytest.approx(81.5)
    assert latest.measured_on == timezone.localdate(timezone=session.patient.home_location.tzinfo)
    assert PreCheck.objects.get(pk=precheck.pk).weight_measurement == latest
    assert AuditEvent.objects.filter(
        object_type="patients.BodyMeasurement", object_id=str(latest.pk)
    ).exists()
