"""Issue 21 point 12 (second part): the day board navigates by date — previous day, today,
next day and a date picker, in the location's local calendar, the URL carrying ?date=."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.infusions import services
from infusionclinic.scheduling.models import Appointment, Chair
from tests.factories import logged_in_client


def _local_today(location) -> dt.date:
    return timezone.now().astimezone(ZoneInfo(location.timezone)).date()


def _noon(location, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=ZoneInfo(location.timezone))


def _session_on(nurse, patient, order, location, day):
    return services.session_create(
        actor=nurse,
        patient=patient,
        order=order,
        location=location,
        scheduled_at=_noon(location, day),
    )


def test_board_shows_the_day_in_the_url_with_previous_today_next_links_issue21_point12(
    nurse, patient, order, location
):
    today = _local_today(location)
    past = today - dt.timedelta(days=3)
    _session_on(nurse, patient, order, location, past)
    client = logged_in_client(nurse)

    on_today = client.get(f"/infusions/board/{location.code}/").content.decode()
    assert patient.family_name not in on_today.split('id="board"')[1]
    assert 'aria-current="date"' in on_today

    r = client.get(f"/infusions/board/{location.code}/?date={past:%Y-%m-%d}")
    assert r.status_code == 200
    html = r.content.decode()
    assert past.strftime("%A %-d %B %Y") in html
    assert patient.family_name in html.split('id="board"')[1]
    board = f"/infusions/board/{location.code}/"
    assert f'href="{board}?date={past - dt.timedelta(days=1):%Y-%m-%d}" rel="prev"' in html
    assert f'href="{board}?date={past + dt.timedelta(days=1):%Y-%m-%d}" rel="next"' in html
    assert f'href="{board}">Today' in html
    assert f'name="date" value="{past:%Y-%m-%d}"' in html
    assert "America/New_York" in html  # the location's time zone, shown
    # The htmx poll keeps the chosen day.
    assert f'hx-get="{board}partial/?date={past:%Y-%m-%d}"' in html
    partial = client.get(f"{board}partial/?date={past:%Y-%m-%d}").content.decode()
    assert patient.family_name in partial
    event = AuditEvent.objects.filter(detail__page="infusion day board").latest("seq")
    assert event.detail["day"] == past.isoformat()


def test_board_day_is_the_locations_local_date_issue21_point12(nurse, location):
    """Today, previous and next day are the location's calendar days, not UTC's."""
    location.timezone = "Pacific/Kiritimati"  # UTC+14: its date is often not UTC's
    location.save(update_fields=["timezone"])
    today = _local_today(location)
    html = logged_in_client(nurse).get(f"/infusions/board/{location.code}/").content.decode()
    assert f'name="date" value="{today:%Y-%m-%d}"' in html
    assert f'?date={today + dt.timedelta(days=1):%Y-%m-%d}" rel="next"' in html
    assert "Pacific/Kiritimati" in html


@pytest.mark.parametrize(
    "bad",
    ["2026-13-01", "2026-02-30", "tomorrow", "20261207", "2026-W49-1", "0001-01-01", "9999-12-31"],
)
def test_board_bad_date_answers_400_with_the_reason_not_500_issue21_point12(bad, nurse, location):
    client = logged_in_client(nurse)
    r = client.get(f"/infusions/board/{location.code}/", {"date": bad})
    assert r.status_code == 400
    html = r.content.decode()
    assert 'id="board-date-error"' in html
    assert "YYYY-MM-DD" in html or "The board shows days from" in html
    assert (
        client.get(f"/infusions/board/{location.code}/partial/", {"date": bad}).status_code == 400
    )


def test_board_opens_sessions_only_on_the_day_issue21_point12(nurse, patient, location):
    """A booked infusion of another day is listed; its session is opened on its day."""
    chair = Chair.objects.create(location=location, name="Chair 1")
    day = _local_today(location) + dt.timedelta(days=2)
    start = _noon(location, day)
    Appointment.objects.create(
        patient=patient,
        location=location,
        chair=chair,
        kind="infusion",
        starts_at=start,
        ends_at=start + dt.timedelta(hours=2),
    )
    html = (
        logged_in_client(nurse)
        .get(f"/infusions/board/{location.code}/", {"date": day.isoformat()})
        .content.decode()
    )
    assert patient.family_name in html
    assert "Open session" not in html
    assert "Sessions are opened on the day of the infusion." in html
