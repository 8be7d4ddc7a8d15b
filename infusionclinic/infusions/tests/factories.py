"""Builders that drive a session through the services to a given state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from infusionclinic.infusions import services
from infusionclinic.infusions.models import InfusionSession, PumpEvent
from tests.factories import session_cs_closed, session_ready_to_start

NORMAL = {
    "systolic_mmhg": 120,
    "diastolic_mmhg": 75,
    "heart_rate_bpm": 72,
    "spo2_pct": 98,
    "respiratory_rate": 14,
}
GOOD_ALDRETE = dict.fromkeys(("activity", "respiration", "circulation", "consciousness", "spo2"), 2)
GOOD_PADSS = dict.fromkeys(
    ("vital_signs", "activity_mental", "pain_nausea", "bleeding", "intake_output"), 2
)


def session_for(nurse, patient, order, location) -> InfusionSession:
    return services.session_create(
        actor=nurse, patient=patient, order=order, location=location, scheduled_at=timezone.now()
    )


def vitals(nurse, session, **values: Any):
    data = {**NORMAL, "taken_at": timezone.now(), **values}
    return services.vital_record(actor=nurse, session=session, **data)


def checked_in(nurse, session) -> InfusionSession:
    return services.session_check_in(
        actor=nurse,
        session=session,
        identity_confirmed=True,
        escort_name="Alex Escort",
        escort_phone="555-010-0199",
    )


def questionnaires_done(nurse, session) -> None:
    """PROT-14 / scales.md §9: the PHQ-9 of the visit, submitted in outcomes (all items 0)."""
    from infusionclinic.outcomes.services import assessment_submit

    assessment_submit(
        actor=nurse, patient=session.patient, instrument_code="PHQ-9", answers=[0] * 9
    )


def prechecked(nurse, session, *, ready: bool = True, **pre_vitals: Any) -> InfusionSession:
    """Checked in, pre-infusion vitals, questionnaires and pre-checks done; with `ready` also
    what the start needs from the controlled-substance log (issue 21 point 6: the location's DEA
    registration and a draw for this session, `tests.factories.session_ready_to_start`)."""
    checked_in(nurse, session)
    vitals(nurse, session, **pre_vitals)
    questionnaires_done(nurse, session)
    services.session_precheck_record(
        actor=nurse,
        session=session,
        fasting_confirmed=True,
        pregnancy_test="negative",
        weight_kg="80.0",
    )
    if ready:
        session_ready_to_start(nurse, session)
    session.refresh_from_db()
    return session


def cs_closed(nurse, session) -> InfusionSession:
    """After the stop: the log's administration from the pump and the witnessed waste of the
    rest (CS-32, CS-33), which discharge and the note's signature need (issue 21 point 6)."""
    session_cs_closed(nurse, session)
    session.refresh_from_db()
    return session


def infusing(nurse, session) -> InfusionSession:
    prechecked(nurse, session)
    services.pump_event_record(actor=nurse, session=session, action="start")
    session.refresh_from_db()
    return session


def shift_back(session: InfusionSession, minutes: int) -> None:
    """Move the session's recorded times into the past (as if that much time had passed)."""
    delta = timedelta(minutes=minutes)
    for event in PumpEvent.objects.filter(session=session):
        PumpEvent.objects.filter(pk=event.pk).update(at=event.at - delta)
    for vital in session.vitals.all():
        type(vital).objects.filter(pk=vital.pk).update(taken_at=vital.taken_at - delta)
    if session.infusion_ended_at:
        InfusionSession.objects.filter(pk=session.pk).update(
            infusion_ended_at=session.infusion_ended_at - delta
        )
    session.refresh_from_db()
