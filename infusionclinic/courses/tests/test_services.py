"""Courses: protocol versions, course start, prescriber phase decisions."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.courses import services
from infusionclinic.courses.models import Phase, Protocol
from infusionclinic.courses.proposals import Action
from infusionclinic.courses.selectors import (
    course_get_for_user,
    course_proposal,
    protocols_current,
)
from infusionclinic.courses.tests.test_proposals import Point
from tests.factories import PatientFactory, make_user

pytestmark = pytest.mark.django_db


def test_clinic_defaults_are_seeded_from_protocol_md(location):
    current = {p.indication: p for p in protocols_current(clinic=location.clinic)}
    dep = current["depression"]
    # PROT-10 3 weekly; PROT-30 every 4 weeks; PROT-13 PHQ-9; PROT-21 50 %; DOSE-1 0.5 mg/kg 40 min
    assert (dep.induction_count, dep.induction_interval_days) == (3, 7)
    assert dep.maintenance_interval_days == 28
    assert (dep.primary_instrument, dep.response_threshold) == ("PHQ-9", D(50))
    assert (dep.default_dose_mg_per_kg, dep.default_duration_min) == (D("0.5"), 40)
    assert current["ptsd"].response_measure == "points"  # PROT-21 PCL-5 10-point fall
    assert current["pain"].response_threshold == D(30)  # PROT-21 pain NRS default


def test_protocol_edit_is_a_new_version_and_running_courses_keep_theirs(
    location, other_location, prescriber, patient
):
    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    old = course.protocol
    new = services.protocol_revise(
        actor=prescriber, protocol=old, changes={"maintenance_interval_days": 21}
    )
    assert (new.version, new.clinic, new.maintenance_interval_days) == (2, location.clinic, 21)
    course.refresh_from_db()
    assert course.protocol == old
    assert Protocol.objects.get(pk=old.pk).maintenance_interval_days == 28
    by_ind = {p.indication: p for p in protocols_current(clinic=location.clinic)}
    assert by_ind["depression"] == new
    # Another clinic still sees the default.
    assert other_location.clinic != location.clinic
    other = {p.indication: p for p in protocols_current(clinic=other_location.clinic)}
    assert other["depression"] == old


def test_protocol_edit_validates_and_needs_a_prescriber(location, prescriber, nurse):
    proto = protocols_current(clinic=location.clinic)[0]
    with pytest.raises(ValidationError) as err:
        services.protocol_revise(actor=prescriber, protocol=proto, changes={"induction_count": 0})
    assert "induction_count" in err.value.message_dict
    with pytest.raises(PermissionDenied):
        services.protocol_revise(actor=nurse, protocol=proto, changes={})


def test_course_starts_in_induction_with_history_and_audit(prescriber, patient):
    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    assert course.phase == Phase.INDUCTION
    assert course.primary_instrument == "PHQ-9"
    assert [d.to_phase for d in course.decisions.all()] == ["induction"]
    assert AuditEvent.objects.filter(action=AuditAction.CREATE, patient=patient).exists()
    with pytest.raises(ValidationError):  # one open course per indication
        services.course_start(actor=prescriber, patient=patient, indication="depression")


def test_nurse_may_not_start_or_decide(prescriber, nurse, patient):
    with pytest.raises(PermissionDenied):
        services.course_start(actor=nurse, patient=patient, indication="depression")
    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    with pytest.raises(PermissionDenied):
        services.phase_decide(actor=nurse, course=course, to_phase="maintenance", reason="x")


def test_decision_needs_a_reason_and_records_the_proposal(prescriber, patient):
    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    start = course.phase_started_at
    history = [Point(1, start - timedelta(days=1), 20), Point(2, start + timedelta(days=14), 8)]
    proposal = course_proposal(course=course, history=history, now=start + timedelta(days=14))
    assert proposal.action is Action.MOVE_TO_MAINTENANCE
    with pytest.raises(ValidationError) as err:
        services.phase_decide(actor=prescriber, course=course, to_phase="maintenance", reason=" ")
    assert "reason" in err.value.message_dict
    decision = services.phase_decide(
        actor=prescriber,
        course=course,
        to_phase="maintenance",
        reason="60 % better",
        proposal=proposal,
    )
    course.refresh_from_db()
    assert course.phase == Phase.MAINTENANCE
    assert decision.proposal_rule_ids == ["PROT-21", "PROT-23"]
    assert decision.proposal_numbers["change_pct"] == "60.0"
    assert AuditEvent.objects.filter(action=AuditAction.UPDATE, patient=patient).exists()


def test_prot23_extension_once_within_the_protocol_maximum(prescriber, patient):
    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    with pytest.raises(ValidationError) as err:
        services.phase_decide(
            actor=prescriber,
            course=course,
            to_phase="induction",
            reason="partial",
            extension_infusions=4,
        )
    assert "extension_infusions" in err.value.message_dict
    services.phase_decide(
        actor=prescriber,
        course=course,
        to_phase="induction",
        reason="partial",
        extension_infusions=2,
    )
    course.refresh_from_db()
    assert (course.phase, course.extension_infusions_used) == ("induction", 2)
    with pytest.raises(ValidationError):
        services.phase_decide(
            actor=prescriber,
            course=course,
            to_phase="induction",
            reason="again",
            extension_infusions=1,
        )


def test_discontinued_course_is_closed(prescriber, patient):
    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    services.phase_decide(actor=prescriber, course=course, to_phase="discontinued", reason="NR")
    course.refresh_from_db()
    with pytest.raises(ValidationError) as err:
        services.phase_decide(actor=prescriber, course=course, to_phase="induction", reason="x")
    assert "to_phase" in err.value.message_dict


def test_course_ids_answer_404_to_other_locations_and_other_patients(
    location, other_location, prescriber, patient
):
    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    outsiders = [
        make_user(role, other_location) for role in ("nurse", "prescriber", "front_desk", "admin")
    ]
    outsiders.append(make_user("patient", patient=PatientFactory(home_location=location)))
    for user in outsiders:
        with pytest.raises(Http404):
            course_get_for_user(user=user, course_id=course.pk)
        assert AuditEvent.objects.filter(action=AuditAction.DENIED, actor=user).count() == 1
    assert course_get_for_user(user=prescriber, course_id=course.pk) == course


def test_course_proposal_reads_the_primary_scale_from_outcomes(prescriber, patient):
    """With real PHQ-9 scores from the outcomes app, the course proposes maintenance after a
    66.7 % fall (PROT-21/23); with none, scores are unavailable and nothing is proposed."""
    from django.utils import timezone

    from infusionclinic.courses import selectors
    from infusionclinic.outcomes import services as outcomes_services

    course = services.course_start(
        actor=prescriber,
        patient=patient,
        indication="depression",
        started_at=timezone.now() - timedelta(days=15),
    )
    assert selectors.course_proposal_from_scores(course=course) == (None, True)
    start = course.started_at
    for answers, when in (
        ([2, 2, 2, 2, 2, 2, 2, 2, 0], start - timedelta(days=2)),  # 16 baseline
        ([1, 1, 1, 1, 0, 0, 0, 0, 0], start + timedelta(days=14)),  # 4
    ):
        outcomes_services.assessment_submit(
            actor=prescriber,
            patient=patient,
            instrument_code="PHQ-9",
            answers=answers,
            completed_at=when,
        )
    proposal, unavailable = selectors.course_proposal_from_scores(course=course)
    assert unavailable is False
    assert proposal.action is Action.MOVE_TO_MAINTENANCE
    assert proposal.numbers["change_pct"] == "75.0"
