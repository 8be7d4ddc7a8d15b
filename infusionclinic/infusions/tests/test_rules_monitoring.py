"""monitoring.md rule by rule (issue 21 part 2: every implemented id is pinned by a test that
fails when the rule breaks): what a reading holds (MON-1..MON-4), the side-effect checklist and
pain NRS (MON-6, AE-*), the baseline and end-of-infusion readings (MON-T1, MON-T3), and the
discharge rules DIS-4 and DIS-5."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from infusionclinic.infusions import rules, selectors, services
from infusionclinic.infusions.models import SessionState
from infusionclinic.infusions.rules import Reading, reading_findings
from tests.factories import logged_in_client

from .factories import (
    GOOD_ALDRETE,
    GOOD_PADSS,
    NORMAL,
    checked_in,
    cs_closed,
    infusing,
    prechecked,
    questionnaires_done,
    shift_back,
    vitals,
)

pytestmark = pytest.mark.django_db


# --- §1 What to measure ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm"])
def test_mon1_a_reading_without_blood_pressure_or_heart_rate_is_refused(nurse, session, field):
    """MON-1: blood pressure (systolic/diastolic) and heart rate are part of every reading."""
    checked_in(nurse, session)
    with pytest.raises(ValidationError) as err:
        vitals(nurse, session, **{field: None})
    assert field in err.value.message_dict
    assert not session.vitals.exists()


@pytest.mark.parametrize("field", ["spo2_pct", "respiratory_rate"])
def test_mon2_a_reading_without_spo2_or_respiratory_rate_is_refused(nurse, session, field):
    """MON-2: SpO2 (pulse oximetry) and respiratory rate are measured with every reading."""
    checked_in(nurse, session)
    with pytest.raises(ValidationError) as err:
        vitals(nurse, session, **{field: None})
    assert field in err.value.message_dict


def test_mon2_spo2_above_100_percent_is_refused_and_low_spo2_or_rr_alerts(nurse, session):
    """MON-2: the oximeter's SpO2 is a percentage; what it and the RR show feeds MON-O2/MON-RR."""
    checked_in(nurse, session)
    with pytest.raises(ValidationError) as err:
        vitals(nurse, session, spo2_pct=101)
    assert "spo2_pct" in err.value.message_dict
    reading = vitals(nurse, session, spo2_pct=89, respiratory_rate=8)
    assert {a.rule_id for a in reading.alerts.all()} >= {"MON-O2-2", "MON-RR-1"}
    assert (reading.spo2_pct, reading.respiratory_rate) == (89, 8)


def test_mon3_sedation_is_moaas_0_to_5_and_optional(nurse, session):
    """MON-3: level of sedation on the MOAA/S 0-5 scale; 6 is not a MOAA/S score."""
    checked_in(nurse, session)
    with pytest.raises(ValidationError) as err:
        vitals(nurse, session, sedation=6)
    assert "sedation" in err.value.message_dict
    assert vitals(nurse, session, sedation=5).sedation == 5
    assert vitals(nurse, session).sedation is None


@given(sedation=st.integers(min_value=0, max_value=5))
def test_mon3_moaas_at_or_below_2_stops_the_infusion_above_does_not(sedation):
    """MON-3 with MON-SED-1: unresponsive to voice (MOAA/S ≤ 2) stops the infusion."""
    reading = Reading(120, 75, 72, 98, 14, sedation=sedation)
    found = {f.rule_id for f in reading_findings(reading, baseline=None, pre_infusion=False)}
    assert ("MON-SED-1" in found) == (sedation <= 2)


def test_mon4_dissociation_is_the_clinician_0_to_3_rating(nurse, session):
    """MON-4: dissociation as the clinician's 0-3 rating (none/mild/moderate/severe) by default."""
    checked_in(nurse, session)
    with pytest.raises(ValidationError) as err:
        vitals(nurse, session, dissociation=4)
    assert "dissociation" in err.value.message_dict
    assert [vitals(nurse, session, dissociation=d).dissociation for d in (0, 3)] == [0, 3]


# --- §4 Side-effect catalogue (AE-*) and MON-6 -------------------------------------------------

CATALOGUE = {
    "AE-1": "Drowsiness",
    "AE-2": "Dissociation",
    "AE-3": "Dizziness",
    "AE-4": "Nausea",
    "AE-5": "Headache",
    "AE-6": "Anxiety",
    "AE-7": "double vision",
    "AE-8": "Muscle twitching",
    "AE-9": "appetite",
    "AE-10": "Elevated BP",
    "AE-11": "Hypoesthesia",
    "AE-12": "Emergence reaction",
    "AE-13": "Urinary",
    "AE-14": "Respiratory depression",
}


def test_mon6_the_side_effect_checklist_is_exactly_ae1_to_ae14():
    """MON-6: side effects are checked against the §4 catalogue, nothing more and nothing less."""
    catalogue = rules.side_effect_catalogue()
    assert set(catalogue) == set(CATALOGUE)
    for code, words in CATALOGUE.items():
        assert words.lower() in catalogue[code].lower(), code


@pytest.mark.parametrize("code", sorted(CATALOGUE, key=lambda c: int(c.split("-")[1])))
def test_ae_each_catalogue_effect_is_recorded_with_its_grade(nurse, session, code):
    """AE-1..AE-14 (AE-2, AE-3, AE-7, AE-8, AE-9, AE-10, AE-11, AE-13, AE-14 among them): each
    effect of the catalogue can be recorded with grade 1-3, and grade 4 does not exist."""
    checked_in(nurse, session)
    effect = services.side_effect_record(actor=nurse, session=session, code=code, grade=2)
    assert (effect.code, effect.grade) == (code, 2)
    with pytest.raises(ValidationError) as err:
        services.side_effect_record(actor=nurse, session=session, code=code, grade=4)
    assert "grade" in err.value.message_dict


def test_ae3_grade3_dizziness_still_present_refuses_discharge(nurse, session):
    """AE-3 graded 3 (severe: still present at planned discharge) holds discharge (DIS-3)."""
    _recovering(nurse, session)
    vitals(nurse, session)
    services.discharge_score_record(
        actor=nurse, session=session, aldrete=GOOD_ALDRETE, padss=GOOD_PADSS
    )
    effect = services.side_effect_record(actor=nurse, session=session, code="AE-3", grade=3)
    shift_back(session, 61)
    assert any("grade-3" in p for p in services.discharge_problems(session))
    services.side_effect_resolve(actor=nurse, effect=effect)
    assert services.discharge_problems(session) == []


def _pain_order(prescriber, patient):
    from infusionclinic.dosing import services as dosing_services
    from infusionclinic.dosing.tests.factories import STANDARD
    from tests.factories import PASSWORD

    data = {**STANDARD, "indication": "pain", "duration_min": 240}
    data.pop("dose_mg_per_kg", None)
    draft = dosing_services.dosing_order_create(
        actor=prescriber, patient=patient, dose_mg_per_kg_per_h="0.5", **data
    )
    return dosing_services.dosing_order_sign(actor=prescriber, order=draft, password=PASSWORD)


def test_mon6_pain_patients_give_a_pain_nrs_before_the_infusion(
    nurse, prescriber, patient, location
):
    """MON-6: pain NRS for pain patients: a pain order's visit needs PAIN-NRS besides PHQ-9,
    a depression order's visit does not."""
    from infusionclinic.outcomes.services import assessment_submit

    from .factories import session_for

    pain = session_for(nurse, patient, _pain_order(prescriber, patient), location)
    assert "PAIN-NRS" in selectors.questionnaires_for_visit(pain).required
    checked_in(nurse, pain)
    vitals(nurse, pain)
    questionnaires_done(nurse, pain)
    with pytest.raises(ValidationError) as err:
        services.session_precheck_record(
            actor=nurse,
            session=pain,
            fasting_confirmed=True,
            pregnancy_test="negative",
            weight_kg="80.0",
        )
    assert "PAIN-NRS" in err.value.message_dict["questionnaires"][0]
    assessment_submit(actor=nurse, patient=patient, instrument_code="PAIN-NRS", answers=[6])
    services.session_precheck_record(
        actor=nurse,
        session=pain,
        fasting_confirmed=True,
        pregnancy_test="negative",
        weight_kg="80.0",
    )


def test_mon6_mood_orders_do_not_ask_for_a_pain_nrs(session):
    """MON-6 applies to pain patients only."""
    assert "PAIN-NRS" not in selectors.questionnaires_for_visit(session).required


# --- §2 When to measure ------------------------------------------------------------------------


def test_mon_t1_no_pre_checks_and_no_start_without_a_baseline_reading(nurse, session):
    """MON-T1: a full baseline set before the start; without it pre-checks are refused."""
    checked_in(nurse, session)
    questionnaires_done(nurse, session)
    with pytest.raises(ValidationError) as err:
        services.session_precheck_record(
            actor=nurse,
            session=session,
            fasting_confirmed=True,
            pregnancy_test="negative",
            weight_kg="80.0",
        )
    assert "MON-T1" in err.value.message_dict["vitals"][0]
    vitals(nurse, session)
    services.session_precheck_record(
        actor=nurse,
        session=session,
        fasting_confirmed=True,
        pregnancy_test="negative",
        weight_kg="80.0",
    )
    assert selectors.baseline_reading(session).phase == "pre"


def test_mon_t1_the_baseline_is_the_last_pre_infusion_reading(nurse, session):
    """MON-T1: the baseline MON-BP-5 compares against is the pre-infusion set, not a later one."""
    prechecked(nurse, session, systolic_mmhg=120)
    services.pump_event_record(actor=nurse, session=session, action="start")
    rise = vitals(nurse, session, systolic_mmhg=161)
    assert "MON-BP-5" in {a.rule_id for a in rise.alerts.all()}
    assert selectors.baseline_reading(session).systolic_mmhg == 120


def test_mon_t3_the_end_of_infusion_reading_is_due_at_the_stop(nurse, session):
    """MON-T3: one full set at the end of the infusion. After the stop the next reading is due at
    once (not 15 min after the last reading during the infusion) and is overdue after the grace
    (MON-T6); once taken, MON-T4's 15-minute interval runs from it."""
    infusing(nurse, session)
    vitals(nurse, session)
    services.pump_event_record(actor=nurse, session=session, action="stop")
    session.refresh_from_db()
    ended = session.infusion_ended_at
    due = selectors.reading_overdue(session, now=ended + timedelta(minutes=1))
    assert (due.due_at, due.overdue) == (ended, False)
    assert selectors.reading_overdue(session, now=ended + timedelta(minutes=6)).overdue
    end_set = vitals(nurse, session, taken_at=timezone.now())
    after = selectors.reading_overdue(session, now=end_set.taken_at + timedelta(minutes=10))
    assert after.due_at == end_set.taken_at + timedelta(minutes=15)
    assert not after.overdue


def test_mon_t3_rule_is_satisfied_only_by_a_reading_at_or_after_the_stop():
    """MON-T3 as a pure rule."""
    stop = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    before = stop - timedelta(seconds=1)
    assert rules.end_of_infusion_due(infusion_ended_at=stop, last_reading_at=None) == stop
    assert rules.end_of_infusion_due(infusion_ended_at=stop, last_reading_at=before) == stop
    assert rules.end_of_infusion_due(infusion_ended_at=stop, last_reading_at=stop) is None
    assert rules.end_of_infusion_due(infusion_ended_at=None, last_reading_at=None) is None


def test_mon_t3_board_shows_the_end_of_infusion_reading_overdue(nurse, session, location):
    """MON-T3 on the day board: the same rule from the board's annotations."""
    infusing(nurse, session)
    vitals(nurse, session)
    services.pump_event_record(actor=nurse, session=session, action="stop")
    session.refresh_from_db()
    shift_back(session, 10)
    [card] = selectors.board_sessions(
        user=nurse, location=location, day=timezone.localdate(timezone.now(), location.tzinfo)
    )
    found = selectors.board_overdue(card, now=timezone.now())
    assert found.overdue
    assert found.due_at == card.infusion_ended_at


# --- §6 Discharge ------------------------------------------------------------------------------


def _recovering(nurse, session):
    infusing(nurse, session)
    services.pump_event_record(actor=nurse, session=session, action="stop")
    cs_closed(nurse, session)  # issue 21 point 6: administration and witnessed waste
    assert session.state == SessionState.RECOVERING


def test_dis4_without_voiding_not_required_an_unvoided_patient_scores_below_10(nurse, session):
    """DIS-4: only the clinic's recorded 'voiding not required' choice scores intake/output as
    met; without it, fluids but no void (1) stays 1 and the choice is recorded as not made."""
    _recovering(nurse, session)
    padss = {**GOOD_PADSS, "intake_output": 1}
    plain = services.discharge_score_record(
        actor=nurse, session=session, aldrete=GOOD_ALDRETE, padss=padss
    )
    assert (plain.padss_total, plain.voiding_not_required) == (9, False)
    chosen = services.discharge_score_record(
        actor=nurse, session=session, aldrete=GOOD_ALDRETE, padss=padss, voiding_not_required=True
    )
    assert (chosen.padss_total, chosen.voiding_not_required) == (10, True)
    assert chosen.padss["intake_output"] == 2


def test_dis4_voiding_not_required_does_not_lift_a_patient_who_took_no_fluids(nurse, session):
    """DIS-4 waives voiding only: neither fluids nor void (0) is not raised."""
    _recovering(nurse, session)
    score = services.discharge_score_record(
        actor=nurse,
        session=session,
        aldrete=GOOD_ALDRETE,
        padss={**GOOD_PADSS, "intake_output": 0},
        voiding_not_required=True,
    )
    assert score.padss_total == 8


def test_dis5_discharge_sheet_repeats_driving_symptoms_and_emergency_contact(nurse, session):
    """DIS-5: no driving or machinery until the next day after sleep; symptoms to report; an
    emergency contact."""
    checked_in(nurse, session)
    page = logged_in_client(nurse).get(f"/infusions/sessions/{session.pk}/discharge-sheet/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Do not drive or operate machinery until the next day" in text
    assert "sleep" in text
    assert "Call the clinic if" in text
    assert "emergency" in text.lower()
    assert session.location.name in text


def test_normal_reading_raises_nothing():
    """The thresholds' negative control: the factories' normal set crosses no threshold."""
    assert reading_findings(Reading(**NORMAL), baseline=None, pre_infusion=False) == []


# --- MON-5 ECG and the monitoring plan ---------------------------------------------------------


def test_mon5_ecg_is_monitored_for_everyone_by_default():
    """MON-5: continuous 3-lead ECG 'per clinic setting (default on)'."""
    assert rules.ecg_required(cardiac_risk=False)
    plan = rules.monitoring_plan(ecg=True, pain=False)
    [ecg] = [i for i in plan if i.rule_id == "MON-5"]
    assert "3-lead" in ecg.how


@override_settings(INFUSIONS={"ecg_monitoring_always": False})
def test_mon5_with_the_setting_off_only_cardiac_risk_needs_the_ecg(nurse, session):
    """MON-5: off, the ECG is listed only for a patient whose intake records a cardiovascular
    history (cardiac risk)."""
    from infusionclinic.intake.models import Intake

    assert not rules.ecg_required(cardiac_risk=False)
    assert rules.ecg_required(cardiac_risk=True)
    assert "MON-5" not in {i.rule_id for i in selectors.monitoring_plan(session)}
    Intake.objects.filter(patient=session.patient).update(
        cardiovascular_history="Atrial fibrillation, on anticoagulation"
    )
    assert "MON-5" in {i.rule_id for i in selectors.monitoring_plan(session)}


def test_mon1_to_mon6_plan_is_on_the_session_page(nurse, session):
    """MON-1..MON-6 shown to the nurse from check-in: BP/HR, SpO2/RR, MOAA/S, dissociation, ECG
    and the side-effect checklist (pain NRS only for pain orders)."""
    checked_in(nurse, session)
    text = logged_in_client(nurse).get(f"/infusions/sessions/{session.pk}/").content.decode()
    for rule_id in ("MON-1", "MON-2", "MON-3", "MON-4", "MON-5", "MON-6"):
        assert f'data-rule="{rule_id}"' in text, rule_id
    assert "continuous 3-lead" in text
    assert "pain NRS" not in text
    assert [i.rule_id for i in rules.monitoring_plan(ecg=False, pain=True)][-1] == "MON-6"
    assert "pain NRS" in rules.monitoring_plan(ecg=False, pain=True)[-1].what


# --- DIS-6 follow-up call ----------------------------------------------------------------------


def _discharge(nurse, session):
    _recovering(nurse, session)
    vitals(nurse, session)
    services.discharge_score_record(
        actor=nurse, session=session, aldrete=GOOD_ALDRETE, padss=GOOD_PADSS
    )
    shift_back(session, 61)
    return services.session_discharge(actor=nurse, session=session, escort_name="Alex Escort")


def test_dis6_follow_up_call_is_the_next_calendar_day_of_the_location():
    """DIS-6: the call is due the day after discharge, counted in the clinic's time zone (23:30
    in New York on 5 Jan is 04:30 UTC on 6 Jan: the call is on 6 Jan, not 7 Jan)."""
    from zoneinfo import ZoneInfo

    at = datetime(2026, 1, 6, 4, 30, tzinfo=UTC)
    assert rules.follow_up_call_day(discharged_at=at, tz=ZoneInfo("America/New_York")) == date(
        2026, 1, 6
    )
    with override_settings(INFUSIONS={"follow_up_call_next_day": False}):
        assert rules.follow_up_call_day(discharged_at=at, tz=ZoneInfo("UTC")) is None


def test_dis6_yesterdays_discharges_are_listed_for_a_call_on_the_board(nurse, session, location):
    """DIS-6: the day board lists yesterday's discharged patients for their follow-up call; a
    patient discharged today is listed tomorrow, not today; the setting switches it off."""
    _discharge(nurse, session)
    session.refresh_from_db()
    today = session.discharged_at.astimezone(location.tzinfo).date()
    assert selectors.follow_up_calls_due(user=nurse, location=location, day=today) == []
    tomorrow = today + timedelta(days=1)
    assert selectors.follow_up_calls_due(user=nurse, location=location, day=tomorrow) == [session]
    after = today + timedelta(days=2)
    assert selectors.follow_up_calls_due(user=nurse, location=location, day=after) == []
    with override_settings(INFUSIONS={"follow_up_call_next_day": False}):
        assert selectors.follow_up_calls_due(user=nurse, location=location, day=tomorrow) == []
    # The board shows it the next day.
    from infusionclinic.infusions.models import InfusionSession

    InfusionSession.objects.filter(pk=session.pk).update(
        discharged_at=session.discharged_at - timedelta(days=1)
    )
    page = logged_in_client(nurse).get(f"/infusions/board/{location.code}/").content.decode()
    assert "Follow-up calls today (DIS-6)" in page
    assert (
        session.patient.family_name in page.split('id="follow-up-calls"')[1].split("</section>")[0]
    )


def test_dis6_another_locations_staff_do_not_see_the_call(nurse, session, location, other_location):
    """DIS-6 list is scoped like every read: staff of another location see nobody."""
    from tests.factories import make_user

    _discharge(nurse, session)
    session.refresh_from_db()
    tomorrow = session.discharged_at.astimezone(location.tzinfo).date() + timedelta(days=1)
    stranger = make_user("nurse", other_location)
    assert selectors.follow_up_calls_due(user=stranger, location=location, day=tomorrow) == []
