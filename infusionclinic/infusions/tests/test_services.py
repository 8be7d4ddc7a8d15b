"""The session's rules through the services: PRE-5 check-in, pre-checks, the BP gate and its
override (MON-BP-1/2), alerts and acknowledgement, overdue readings (MON-T6), discharge (DIS-3)
and the note lock."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.infusions import selectors, services
from infusionclinic.infusions.models import SessionState
from tests.factories import make_user

from .factories import (
    GOOD_ALDRETE,
    GOOD_PADSS,
    checked_in,
    cs_closed,
    infusing,
    prechecked,
    shift_back,
    vitals,
)


def test_pre5_check_in_refused_without_escort_name_and_phone(nurse, session):
    with pytest.raises(ValidationError) as err:
        services.session_check_in(
            actor=nurse, session=session, identity_confirmed=True, escort_name="", escort_phone=""
        )
    assert {"escort_name", "escort_phone"} <= set(err.value.message_dict)
    session.refresh_from_db()
    assert session.state == SessionState.SCHEDULED


def test_check_in_records_escort(nurse, session):
    checked_in(nurse, session)
    session.refresh_from_db()
    assert session.state == SessionState.CHECKED_IN
    assert session.escort_name == "Alex Escort"


def test_mon_t1_pre_checks_need_pre_infusion_vitals(nurse, session):
    checked_in(nurse, session)
    with pytest.raises(ValidationError) as err:
        services.session_precheck_record(
            actor=nurse,
            session=session,
            fasting_confirmed=True,
            pregnancy_test="negative",
            weight_kg="80",
        )
    assert "vitals" in err.value.message_dict


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"fasting_confirmed": False}, "fasting_confirmed"),  # PRE-4
        ({"pregnancy_test": "positive"}, "pregnancy_test"),  # ELIG-A7
        ({"pregnancy_test": ""}, "pregnancy_test"),  # PRE-2
        ({"weight_kg": "5"}, "weight_kg"),
    ],
)
def test_pre_checks_hard_stops(nurse, session, kwargs, field):
    checked_in(nurse, session)
    vitals(nurse, session)
    data = {
        "fasting_confirmed": True,
        "pregnancy_test": "negative",
        "weight_kg": "80",
        **kwargs,
    }
    with pytest.raises(ValidationError) as err:
        services.session_precheck_record(actor=nurse, session=session, **data)
    assert field in err.value.message_dict


def test_pre_checks_refused_when_consent_not_current(nurse, session):
    from infusionclinic.intake.models import ConsentSignature

    checked_in(nurse, session)
    vitals(nurse, session)
    ConsentSignature.objects.filter(patient=session.patient).delete()
    with pytest.raises(ValidationError) as err:
        services.session_precheck_record(
            actor=nurse,
            session=session,
            fasting_confirmed=True,
            pregnancy_test="negative",
            weight_kg="80",
        )
    assert "consent_current" in err.value.message_dict


def test_start_with_normal_bp_moves_to_infusing(nurse, session):
    infusing(nurse, session)
    assert session.state == SessionState.INFUSING


@pytest.mark.parametrize(("sbp", "dbp", "rule_id"), [(185, 100, "MON-BP-2"), (150, 85, "MON-BP-1")])
def test_bp_gate_refuses_start_until_prescriber_override(
    nurse, prescriber, session, sbp, dbp, rule_id
):
    prechecked(nurse, session, systolic_mmhg=sbp, diastolic_mmhg=dbp)
    assert [a.rule_id for a in session.alerts.all()] == [rule_id]
    with pytest.raises(ValidationError) as err:
        services.pump_event_record(actor=nurse, session=session, action="start")
    assert rule_id in str(err.value)
    with pytest.raises(PermissionDenied):
        services.session_bp_override(actor=nurse, session=session, reason="looks fine to me")
    with pytest.raises(ValidationError):
        services.session_bp_override(actor=prescriber, session=session, reason="")
    services.session_bp_override(
        actor=prescriber, session=session, reason="Repeat 176/98 after rest; white-coat history"
    )
    assert AuditEvent.objects.filter(detail__event="bp_override", actor=prescriber).exists()
    services.pump_event_record(actor=nurse, session=session, action="start")
    session.refresh_from_db()
    assert session.state == SessionState.INFUSING


def test_bp_override_does_not_cover_a_later_high_reading(nurse, prescriber, session):
    prechecked(nurse, session, systolic_mmhg=185)
    services.session_bp_override(actor=prescriber, session=session, reason="documented reason")
    vitals(nurse, session, systolic_mmhg=195)  # a later reading (recorded after the override)
    with pytest.raises(ValidationError):
        services.pump_event_record(actor=nurse, session=session, action="start")


def test_override_refused_when_bp_does_not_need_it(nurse, prescriber, session):
    prechecked(nurse, session)
    with pytest.raises(ValidationError):
        services.session_bp_override(actor=prescriber, session=session, reason="no need at all")


def test_reading_raises_alert_with_rule_and_acknowledgement_is_audited(nurse, session):
    infusing(nurse, session)
    vital = vitals(nurse, session, spo2_pct=88)
    alert = vital.alerts.get()
    assert (alert.rule_id, alert.level) == ("MON-O2-2", "critical")
    services.alert_acknowledge(actor=nurse, alert=alert, note="O2 on, pump stopped")
    alert.refresh_from_db()
    assert alert.acknowledged_by == nurse
    assert AuditEvent.objects.filter(detail__event="alert_ack", detail__rule_id="MON-O2-2").exists()
    with pytest.raises(ValidationError):
        services.alert_acknowledge(actor=nurse, alert=alert)


def test_mon_bp5_uses_the_pre_infusion_baseline(nurse, session):
    infusing(nurse, session)  # baseline 120/75
    vital = vitals(nurse, session, systolic_mmhg=162)
    assert [a.rule_id for a in vital.alerts.all()] == ["MON-BP-5"]


def test_resume_refused_while_alerts_open_and_mon_bp3_needs_prescriber(nurse, prescriber, session):
    infusing(nurse, session)
    vital = vitals(nurse, session, systolic_mmhg=182, diastolic_mmhg=100)
    assert "MON-BP-3" in [a.rule_id for a in vital.alerts.all()]
    services.pump_event_record(actor=nurse, session=session, action="pause", reason="MON-BP-3")
    with pytest.raises(ValidationError):
        services.pump_event_record(actor=nurse, session=session, action="resume")
    for alert in vital.alerts.all():
        services.alert_acknowledge(actor=nurse, alert=alert)
    with pytest.raises(PermissionDenied):
        services.pump_event_record(actor=nurse, session=session, action="resume")
    services.pump_event_record(actor=prescriber, session=session, action="resume")
    session.refresh_from_db()
    assert session.state == SessionState.INFUSING


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"systolic_mmhg": 80, "diastolic_mmhg": 80}, "systolic_mmhg"),
        ({"spo2_pct": 101}, "spo2_pct"),
        ({"taken_at_offset_min": 10}, "taken_at"),
    ],
)
def test_implausible_readings_are_refused(nurse, session, values, field):
    checked_in(nurse, session)
    offset = values.pop("taken_at_offset_min", 0)
    with pytest.raises(ValidationError) as err:
        vitals(nurse, session, taken_at=timezone.now() + timedelta(minutes=offset), **values)
    assert field in err.value.message_dict
    assert not session.vitals.exists()


def test_mon_t6_reading_overdue_while_infusing_and_in_recovery(nurse, session):
    infusing(nurse, session)
    vitals(nurse, session)
    assert not selectors.reading_overdue(session).overdue
    now = timezone.now()
    assert not selectors.reading_overdue(session, now=now + timedelta(minutes=14)).overdue
    assert selectors.reading_overdue(session, now=now + timedelta(minutes=16)).overdue
    services.pump_event_record(actor=nurse, session=session, action="stop")
    session.refresh_from_db()
    vitals(nurse, session)  # MON-T3: the end-of-infusion set (due at the stop)
    now = timezone.now()
    # MON-T4: 15 min in recovery, + 5 min
    assert not selectors.reading_overdue(session, now=now + timedelta(minutes=19)).overdue
    assert selectors.reading_overdue(session, now=now + timedelta(minutes=21)).overdue


def test_dose_given_from_pump_times_with_a_pause(nurse, session):
    infusing(nurse, session)
    services.pump_event_record(actor=nurse, session=session, action="pause")
    services.pump_event_record(actor=nurse, session=session, action="resume")
    services.pump_event_record(actor=nurse, session=session, action="stop")
    events = list(session.pump.all())
    # 30 min before the pause, a 20-minute pause, 10 min after the resume.
    from infusionclinic.infusions.models import PumpEvent

    t0 = timezone.now() - timedelta(hours=1)
    for event, minutes in zip(events, (0, 30, 50, 60), strict=True):
        PumpEvent.objects.filter(pk=event.pk).update(at=t0 + timedelta(minutes=minutes))
    order = session.order
    expected = (Decimal(40) / 60 * order.rate_ml_per_h * order.concentration_mg_per_ml).quantize(
        Decimal("0.1")
    )
    assert selectors.dose_given_mg(session) == expected


def _recovering(nurse, session):
    infusing(nurse, session)
    services.pump_event_record(actor=nurse, session=session, action="stop")
    return cs_closed(nurse, session)  # issue 21 point 6: administration and witnessed waste


def test_dis3_discharge_refused_before_minimum_observation_and_scores(nurse, session):
    _recovering(nurse, session)
    problems = services.discharge_problems(session)
    assert any("MON-T5" in p for p in problems)
    assert any("DIS-1/DIS-2" in p for p in problems)
    with pytest.raises(ValidationError):
        services.session_discharge(actor=nurse, session=session, escort_name="Alex Escort")


def test_dis3_low_scores_and_grade3_effect_refuse_discharge(nurse, session):
    _recovering(nurse, session)
    shift_back(session, 61)
    services.discharge_score_record(
        actor=nurse, session=session, aldrete={**GOOD_ALDRETE, "spo2": 0}, padss=GOOD_PADSS
    )
    effect = services.side_effect_record(actor=nurse, session=session, code="AE-4", grade=3)
    problems = services.discharge_problems(session)
    assert any("DIS-1" in p for p in problems)
    assert any("grade-3" in p for p in problems)
    assert not any("MON-T5" in p for p in problems)
    services.side_effect_resolve(actor=nurse, effect=effect)
    services.discharge_score_record(
        actor=nurse, session=session, aldrete=GOOD_ALDRETE, padss=GOOD_PADSS
    )
    assert services.discharge_problems(session) == []


def test_dis3_discharge_released_after_60_minutes_with_scores_and_escort(nurse, session):
    _recovering(nurse, session)
    services.discharge_score_record(
        actor=nurse, session=session, aldrete=GOOD_ALDRETE, padss=GOOD_PADSS
    )
    shift_back(session, 59)
    assert any("MON-T5" in p for p in services.discharge_problems(session))
    shift_back(session, 2)
    with pytest.raises(ValidationError):
        services.session_discharge(actor=nurse, session=session, escort_name=" ")
    services.session_discharge(actor=nurse, session=session, escort_name="Alex Escort")
    session.refresh_from_db()
    assert session.state == SessionState.DISCHARGED
    assert session.discharged_to_escort == "Alex Escort"


def test_dis4_voiding_not_required_is_recorded(nurse, session):
    _recovering(nurse, session)
    score = services.discharge_score_record(
        actor=nurse,
        session=session,
        aldrete=GOOD_ALDRETE,
        padss={**GOOD_PADSS, "intake_output": 1},
        voiding_not_required=True,
    )
    assert score.padss_total == 10
    assert score.voiding_not_required


def test_side_effect_must_come_from_catalogue(nurse, session):
    checked_in(nurse, session)
    with pytest.raises(ValidationError) as err:
        services.side_effect_record(actor=nurse, session=session, code="AE-99", grade=4)
    assert {"code", "grade"} <= set(err.value.message_dict)


def _discharged(nurse, session):
    _recovering(nurse, session)
    services.discharge_score_record(
        actor=nurse, session=session, aldrete=GOOD_ALDRETE, padss=GOOD_PADSS
    )
    shift_back(session, 61)
    return services.session_discharge(actor=nurse, session=session, escort_name="Alex Escort")


def test_note_signed_by_nurse_and_prescriber_then_locked(nurse, prescriber, session):
    _discharged(nurse, session)
    note = services.note_generate(actor=nurse, session=session)
    assert "Dose given" in note.body
    assert "Alex Escort" in note.body
    with pytest.raises(ValidationError):
        services.note_amend(actor=nurse, note=note, text="x", reason="y")  # not locked yet
    services.note_sign(actor=nurse, note=note)
    with pytest.raises(ValidationError):
        services.note_generate(actor=nurse, session=session)  # signed: no regeneration
    note = services.note_sign(actor=prescriber, note=note)
    assert note.locked
    with pytest.raises(ValidationError) as err:
        services.note_amend(actor=prescriber, note=note, text="Late entry: nausea AE-4", reason="")
    assert "reason" in err.value.message_dict
    services.note_amend(
        actor=prescriber, note=note, text="Late entry: nausea AE-4", reason="missed at discharge"
    )
    assert note.amendments.count() == 1


def test_front_desk_cannot_run_sessions(location, session):
    with pytest.raises(PermissionDenied):
        checked_in(make_user("front_desk", location), session)


def test_cancel_and_no_show(nurse, session):
    services.session_cancel(actor=nurse, session=session, no_show=True, reason="did not come")
    session.refresh_from_db()
    assert session.state == SessionState.NO_SHOW


def test_a_reading_checks_the_state_under_the_lock_not_the_callers_copy(nurse, session):
    """vital_record reads state and check-in time back under the row lock: a session object
    loaded before another user discharged or cancelled the visit does not let a reading in."""
    from infusionclinic.infusions.models import InfusionSession

    checked_in(nurse, session)
    stale = InfusionSession.objects.get(pk=session.pk)
    InfusionSession.objects.filter(pk=session.pk).update(state=SessionState.CANCELLED)
    with pytest.raises(ValidationError, match="check-in to discharge"):
        vitals(nurse, stale)
    assert not session.vitals.exists()
