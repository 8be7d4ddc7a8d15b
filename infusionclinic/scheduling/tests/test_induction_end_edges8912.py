"""Issue 21 point 8: one source for the induction end date. The course page, the series page
and the course API show the same day: the last booked induction infusion when the course has a
booked series, otherwise the PROT-10 plan (count and spacing)."""

import re
from datetime import timedelta

import pytest

from infusionclinic.courses.services import course_start
from tests.factories import PatientFactory, api_client, logged_in_client, make_user

from .factories import future_day, staffed_location

pytestmark = pytest.mark.django_db


def _shown(html: str) -> str:
    match = re.search(r'id="induction-end">[^0-9]*(\d{4}-\d{2}-\d{2})', html)
    assert match, "no induction end on the page"
    return match.group(1)


def test_course_page_series_page_and_api_show_the_booked_series_last_infusion_prot10(location):
    staffed_location(location)
    patient = PatientFactory(home_location=location)
    prescriber = make_user("prescriber", location)
    course = course_start(actor=prescriber, patient=patient, indication="depression")
    desk = logged_in_client(make_user("front_desk", location))
    doctor = logged_in_client(prescriber)

    planned = course.phase_started_at.astimezone(location.tzinfo) + timedelta(days=14)
    assert _shown(doctor.get(f"/courses/{course.pk}/").content.decode()) == f"{planned:%Y-%m-%d}"

    # The series starts a few days after the course was started (the 12-20 vs 12-22).
    first_day = future_day() + timedelta(days=2)
    url = f"/patients/{patient.pk}/series/"
    form = {
        "location": location.pk,
        "first_date": first_day.isoformat(),
        "preferred_time": "09:00",
        "count": 3,
        "interval_days": 7,
    }
    html = desk.post(url, {**form, "action": "propose"}).content.decode()
    starts = re.findall(r'name="starts" value="([^"]+)"', html)
    assert desk.post(url, {**form, "action": "accept", "starts": starts}).status_code == 302
    last_booked = course.appointments.order_by("starts_at").last()
    expected = f"{last_booked.starts_at.astimezone(location.tzinfo):%Y-%m-%d}"

    course_html = doctor.get(f"/courses/{course.pk}/").content.decode()
    assert _shown(course_html) == expected
    assert _shown(desk.get(url).content.decode()) == expected
    api = api_client(prescriber).get(f"/api/v1/courses/{course.pk}")
    assert api.json()["induction_ends_on"] == expected
    assert api.json()["induction_ends_source"] == "booked"


def test_proposal_waits_until_the_booked_last_induction_infusion_prot10_prot23(location):
    """The WAIT proposal's "Induction continues until" names the same day as the page."""
    from infusionclinic.courses.models import Protocol
    from infusionclinic.courses.selectors import course_induction_end, course_proposal
    from infusionclinic.scheduling.services import appointment_series_book
    from infusionclinic.scheduling.tests.factories import local

    staffed_location(location)
    patient = PatientFactory(home_location=location)
    course = course_start(
        actor=make_user("prescriber", location), patient=patient, indication="depression"
    )
    assert isinstance(course.protocol, Protocol)
    first_day = future_day() + timedelta(days=3)
    starts = [local(location, first_day + timedelta(days=7 * i), 10) for i in range(3)]
    appointment_series_book(
        actor=make_user("front_desk", location),
        patient=patient,
        location=location,
        starts=starts,
        course=course,
    )
    end = course_induction_end(course=course)
    assert end.source == "booked"
    assert end.on == (first_day + timedelta(days=14))
    proposal = course_proposal(course=course, history=[])
    assert proposal.explanation == f"Induction continues until {end.on:%Y-%m-%d}."
