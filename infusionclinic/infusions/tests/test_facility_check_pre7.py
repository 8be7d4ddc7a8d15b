"""protocol.md PRE-7: the facility checklist (a prescriber experienced in airway management,
emergency airway equipment and resuscitation drugs on site, an ACLS-certified clinician present)
gates the day's infusions at a location."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from infusionclinic.audit.models import AuditEvent
from infusionclinic.infusions import services
from infusionclinic.infusions.facility import facility_check_record, facility_check_today
from infusionclinic.infusions.models import FacilityCheck, PumpEvent, SessionState
from tests.factories import LocationFactory, logged_in_client, make_user, session_ready_to_start

from .factories import prechecked

pytestmark = pytest.mark.django_db


def _check(actor, location, prescriber, **overrides):
    values = {
        "airway_prescriber": prescriber,
        "acls_clinician": actor,
        "airway_equipment_checked": True,
        "resuscitation_drugs_checked": True,
    }
    return facility_check_record(actor=actor, location=location, **{**values, **overrides})


def test_pre7_start_refused_until_the_days_facility_check_is_recorded(nurse, session):
    prechecked(nurse, session, facility=False)
    with pytest.raises(ValidationError, match="PRE-7: today's facility check"):
        services.pump_event_record(actor=nurse, session=session, action="start")
    session.refresh_from_db()
    assert session.state == SessionState.PRE_CHECKS
    assert not PumpEvent.objects.filter(session=session).exists()
    prescriber = make_user("prescriber", session.location)
    _check(nurse, session.location, prescriber)
    services.pump_event_record(actor=nurse, session=session, action="start")
    session.refresh_from_db()
    assert session.state == SessionState.INFUSING


def test_pre7_the_check_needs_both_people_of_the_location_and_both_ticks(nurse, location):
    prescriber = make_user("prescriber", location)
    elsewhere = make_user("prescriber", LocationFactory(code="far", name="Far"))
    with pytest.raises(ValidationError) as exc:
        _check(
            nurse,
            location,
            elsewhere,
            acls_clinician=make_user("front_desk", location),
            airway_equipment_checked=False,
            resuscitation_drugs_checked=False,
        )
    assert set(exc.value.message_dict) == {
        "airway_prescriber",
        "acls_clinician",
        "airway_equipment_checked",
        "resuscitation_drugs_checked",
    }
    with pytest.raises(ValidationError, match="prescriber"):
        _check(nurse, location, nurse)  # a nurse is not the airway prescriber
    assert not FacilityCheck.objects.exists()
    check = _check(nurse, location, prescriber)
    assert facility_check_today(location=location) == check
    event = AuditEvent.objects.get(object_type="infusions.FacilityCheck")
    assert event.detail["rule_id"] == "PRE-7"


def test_pre7_front_desk_and_other_locations_may_not_record_it(nurse, location):
    prescriber = make_user("prescriber", location)
    with pytest.raises(PermissionDenied):
        _check(make_user("front_desk", location), location, prescriber)
    with pytest.raises(PermissionDenied):
        _check(make_user("nurse", LocationFactory(code="far", name="Far")), location, prescriber)


def test_pre7_yesterdays_check_does_not_count_today(nurse, session):
    from datetime import timedelta

    from django.utils import timezone

    prechecked(nurse, session, facility=False)
    prescriber = make_user("prescriber", session.location)
    facility_check_record(
        actor=nurse,
        location=session.location,
        airway_prescriber=prescriber,
        acls_clinician=nurse,
        airway_equipment_checked=True,
        resuscitation_drugs_checked=True,
        at=timezone.now() - timedelta(days=1),
    )
    with pytest.raises(ValidationError, match="PRE-7"):
        services.pump_event_record(actor=nurse, session=session, action="start")


def test_pre7_the_board_shows_the_missing_check_and_its_page_records_it(nurse, location):
    prescriber = make_user("prescriber", location)
    client = logged_in_client(nurse)
    board = client.get(f"/infusions/board/{location.code}/").content.decode()
    assert "No facility check today (PRE-7)" in board
    page = client.get(f"/infusions/board/{location.code}/facility/")
    assert page.status_code == 200
    assert "Prescriber experienced in airway management" in page.content.decode()
    refused = client.post(
        f"/infusions/board/{location.code}/facility/",
        {"airway_prescriber": prescriber.pk, "acls_clinician": nurse.pk},
    )
    assert "Check the emergency airway equipment" in refused.content.decode()
    response = client.post(
        f"/infusions/board/{location.code}/facility/",
        {
            "airway_prescriber": prescriber.pk,
            "acls_clinician": nurse.pk,
            "airway_equipment_checked": "on",
            "resuscitation_drugs_checked": "on",
        },
    )
    assert response.status_code == 302
    board = client.get(f"/infusions/board/{location.code}/").content.decode()
    assert "Facility check (PRE-7) recorded" in board
    other = LocationFactory(code="far", name="Far")
    assert client.get(f"/infusions/board/{other.code}/facility/").status_code == 404
    assert (
        logged_in_client(make_user("front_desk", location))
        .get(f"/infusions/board/{location.code}/facility/")
        .status_code
        == 403
    )


def test_pre7_can_be_turned_off_by_the_clinic(nurse, session, settings):
    settings.INFUSIONS = {"facility_check_required": False}
    prechecked(nurse, session, facility=False, ready=False)
    session_ready_to_start(nurse, session)
    FacilityCheck.objects.all().delete()
    services.pump_event_record(actor=nurse, session=session, action="start")
    session.refresh_from_db()
    assert session.state == SessionState.INFUSING
