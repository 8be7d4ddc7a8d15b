"""Analytics figures on constructed data: a small clinic whose every figure is known by hand.

The location is in America/New_York; the range 2026-03-02 (Mon) .. 2026-03-15 (Sun) spans the
start of daylight saving time (2026-03-08), so week and day boundaries are checked in local time:
an infusion at 23:50 on Sunday 1 March (local) is 04:50 UTC on Monday 2 March and stays out; one
at 23:50 on Sunday 15 March (03:50 UTC on the 16th) is in."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection, connections
from django.http import Http404

from infusionclinic.analytics.selectors import (
    Rate,
    analytics_locations,
    clinic_figures,
)
from infusionclinic.common.dbrouter import reads_tolerate_lag
from infusionclinic.courses.services import protocol_defaults_ensure
from infusionclinic.infusions.models import InfusionSession, PumpEvent
from infusionclinic.scheduling.models import Chair, Holiday, OpeningHours
from tests.factories import PatientFactory, make_user

from .factories import (
    appointment,
    course,
    infusion,
    local,
    payment,
    score,
    side_effect,
    vital_alert,
)

pytestmark = pytest.mark.django_db
UTC = ZoneInfo("UTC")
FROM, TO = date(2026, 3, 2), date(2026, 3, 15)


def d(day: int) -> date:
    return date(2026, 3, day)


@pytest.fixture
def clinic(location, other_location):
    protocol_defaults_ensure()
    staff = make_user("prescriber", location)
    for weekday in range(5):  # Monday to Friday, 09:00-17:00 local: 480 min
        OpeningHours.objects.create(
            location=location, weekday=weekday, opens_at=time(9), closes_at=time(17)
        )
    Holiday.objects.create(location=location, date=d(4), name="Closed")
    chair = Chair.objects.create(location=location, name="A")
    Chair.objects.create(location=location, name="B")
    retired = Chair.objects.create(location=location, name="Old", active=False)
    p1, p2, p3, p4, p5 = (PatientFactory(home_location=location) for _ in range(5))
    L = location

    # Chairs: completed 10:00-12:00 (120 min used), completed 16:00-18:00 (60 min inside the
    # hours), no-show 120 min (held, not used), cancelled (not counted), booked after the DST
    # change 120 min (held), completed on a retired chair (not counted).
    a1 = appointment(p1, L, local(L, d(2), 10), 120, "completed", chair=chair)
    a2 = appointment(p2, L, local(L, d(3), 16), 120, "completed", chair=chair)
    appointment(p3, L, local(L, d(5), 9), 120, "no_show", chair=chair)
    appointment(p3, L, local(L, d(6), 9), 120, "cancelled", chair=chair)
    appointment(p4, L, local(L, d(9), 9), 120, "booked", chair=chair)
    appointment(p5, L, local(L, d(10), 9), 120, "completed", chair=retired)
    appointment(p1, L, local(L, d(10), 13), 60, "completed", kind="consultation")
    appointment(p2, L, local(L, d(11), 13), 60, "no_show", kind="consultation")
    appointment(p2, L, local(L, d(16), 13), 60, "no_show", kind="consultation")  # after range

    # Infusions (first pump start, local): two in week 2 March, three in week 9 March.
    s0 = infusion(p1, L, local(L, date(2026, 3, 1), 23, 50), staff)  # Sunday before: out
    s1 = infusion(p1, L, local(L, d(2), 10, 20), staff, appointment=a1)
    s2 = infusion(p2, L, local(L, d(3), 16, 10), staff, appointment=a2)
    s3 = infusion(p3, L, local(L, d(10), 10), staff)
    s6 = infusion(p5, L, local(L, d(11), 10), staff)
    infusion(p4, L, local(L, d(15), 23, 50), staff)  # Sunday 15th local = Monday 16th UTC: in
    infusion(p4, L, local(L, d(16), 0, 10), staff)  # Monday 16th local: out
    infusion(p4, L, None, staff)  # cancelled before the pump started: not an infusion
    side_effect(s0, staff)  # out of range
    side_effect(s1, staff)
    vital_alert(s2, staff)
    side_effect(s3, staff, grade=2)
    vital_alert(s3, staff)
    assert s6.side_effects.count() == 0

    # Courses and scores (PROT-13 baseline within 7 days before the course's start).
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    course(p1, "depression", "PHQ-9", start, staff)
    score(p1, "PHQ-9", 20, datetime(2026, 2, 27, 12, tzinfo=UTC))
    score(p1, "PHQ-9", 9, datetime(2026, 3, 12, 12, tzinfo=UTC))  # 55 %: response, no remission
    score(p1, "PHQ-9", 2, datetime(2026, 3, 20, 12, tzinfo=UTC))  # after the range: ignored
    course(p2, "depression", "PHQ-9", start, staff)
    score(p2, "PHQ-9", 20, datetime(2026, 2, 28, 12, tzinfo=UTC))
    score(p2, "PHQ-9", 4, datetime(2026, 3, 14, 12, tzinfo=UTC))  # 80 %, < 5: both
    course(p3, "depression", "PHQ-9", start, staff)
    score(p3, "PHQ-9", 10, datetime(2026, 2, 28, 12, tzinfo=UTC))
    score(p3, "PHQ-9", 6, datetime(2026, 3, 13, 12, tzinfo=UTC))  # 40 %: neither
    course(p4, "ptsd", "PCL-5", start, staff)
    score(p4, "PCL-5", 50, datetime(2026, 2, 28, 12, tzinfo=UTC))
    score(p4, "PCL-5", 38, datetime(2026, 3, 13, 12, tzinfo=UTC))  # 12-point fall: response
    course(p5, "depression", "PHQ-9", start, staff)
    score(p5, "PHQ-9", 22, datetime(2026, 2, 10, 12, tzinfo=UTC))  # outside PROT-13's window
    score(p5, "PHQ-9", 5, datetime(2026, 3, 13, 12, tzinfo=UTC))

    # Money: payments minus refunds recorded in the range at this location.
    payment(p1, L, "payment", "400.00", local(L, d(3), 12))
    payment(p1, L, "payment", "35.50", local(L, d(10), 12))
    payment(p1, L, "refund", "100.00", local(L, d(12), 12))
    payment(p1, L, "payment", "999.00", local(L, d(16), 0, 30))  # after the range (local)
    payment(p1, other_location, "payment", "50.00", local(other_location, d(10), 12))
    return location


def test_infusions_per_week_in_the_location_zone(clinic):
    figures = clinic_figures(locations=[clinic], date_from=FROM, date_to=TO)
    assert figures.infusions_per_week == [(d(2), 2), (d(9), 3)]
    assert figures.infusions == 5


def test_an_infusion_counts_in_the_period_of_its_first_pump_start_only(clinic):
    # A session first started on Sunday 1 March (out) and started again on the 3rd: the pump
    # starts read by index pick it up, the first start keeps it out.
    s0 = InfusionSession.objects.get(pk=PumpEvent.objects.order_by("at").first().session_id)
    PumpEvent.objects.create(
        session=s0, action="start", at=local(clinic, d(3), 9), actor=s0.created_by
    )
    figures = clinic_figures(locations=[clinic], date_from=FROM, date_to=TO)
    assert figures.infusions == 5
    assert figures.infusions_per_week == [(d(2), 2), (d(9), 3)]


def test_chair_utilization_booked_and_used_over_open_chair_minutes(clinic):
    figures = clinic_figures(locations=[clinic], date_from=FROM, date_to=TO)
    # 9 open weekdays (the 4th is a holiday) x 480 min x 2 active chairs.
    assert figures.open_chair_minutes == 8640
    assert figures.booked_chair_minutes == 120 + 60 + 120 + 120
    assert figures.used_chair_minutes == 120 + 60
    assert figures.chair_booked.percent == Decimal("4.9")  # 420 / 8640
    assert figures.chair_used.percent == Decimal("2.1")  # 180 / 8640


def test_response_and_remission_by_indication_from_the_instruments(clinic):
    figures = clinic_figures(locations=[clinic], date_from=FROM, date_to=TO)
    by = {o.indication: o for o in figures.outcomes}
    assert set(by) == {"depression", "ptsd"}
    depression = by["depression"]
    assert depression.courses == 4
    assert depression.not_evaluable == 1  # p5: no baseline within PROT-13's window
    assert depression.response == Rate(2, 3)  # PROT-21: >= 50 % on PHQ-9
    assert depression.response.percent == Decimal("66.7")
    assert depression.remission == Rate(1, 3)  # PROT-22: PHQ-9 < 5
    ptsd = by["ptsd"]
    assert ptsd.response == Rate(1, 1)  # PROT-21: PCL-5 fall >= 10 points
    assert ptsd.remission == Rate(0, 0)  # PROT-22 defines no PCL-5 remission
    assert ptsd.remission.percent is None


def test_adverse_event_no_show_and_revenue(clinic):
    figures = clinic_figures(locations=[clinic], date_from=FROM, date_to=TO)
    assert figures.adverse_events == Rate(3, 5)
    assert figures.adverse_events.percent == Decimal("60.0")
    assert figures.side_effect_infusions == 2
    assert figures.alert_infusions == 2
    # Completed or no-show appointments starting in the range: 4 completed, 2 no-shows.
    assert figures.no_show == Rate(2, 6)
    assert figures.no_show.percent == Decimal("33.3")
    assert figures.revenue.payments == Decimal("435.50")
    assert figures.revenue.refunds == Decimal("100.00")
    assert figures.revenue.net == Decimal("335.50")
    assert isinstance(figures.revenue.net, Decimal)


def test_all_locations_adds_the_other_location(clinic, other_location):
    admin = make_user("admin", clinic, other_location)
    both = analytics_locations(user=admin, location_id=None)
    figures = clinic_figures(locations=both, date_from=FROM, date_to=TO)
    assert figures.revenue.net == Decimal("385.50")
    assert figures.infusions == 5


def test_a_location_that_is_not_the_admins_answers_404(clinic, other_location):
    admin = make_user("admin", clinic)
    assert analytics_locations(user=admin, location_id=clinic.pk) == [clinic]
    with pytest.raises(Http404):
        analytics_locations(user=admin, location_id=other_location.pk)


def test_a_one_day_range_is_that_local_day_only(clinic):
    figures = clinic_figures(locations=[clinic], date_from=d(15), date_to=d(15))
    assert figures.infusions_per_week == [(d(9), 1)]
    assert figures.open_chair_minutes == 0  # a Sunday
    assert figures.chair_booked.percent is None


def test_every_figure_query_is_a_lag_tolerant_read(clinic):
    """Issue 13: with a replica configured, the router sends these reads to it."""
    flags: list[bool] = []

    def record(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        flags.append(reads_tolerate_lag())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        clinic_figures(locations=[clinic], date_from=FROM, date_to=TO)
    assert flags
    assert all(flags)


@pytest.mark.skipif(
    "replica" not in settings.DATABASES, reason="needs DATABASE_REPLICA_URL (a mirror in tests)"
)
@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_with_a_replica_configured_the_figures_are_read_from_it(clinic, real_replica_routing):
    """Run with DATABASE_REPLICA_URL set to the same database (the test runner mirrors it): the
    rows are committed (transactional test), so the replica connection sees them."""
    primary: list[str] = []

    def record(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        primary.append(sql)
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(record):
            figures = clinic_figures(locations=[clinic], date_from=FROM, date_to=TO)
    finally:
        connections["replica"].close()
    assert primary == []  # not one query on the primary
    assert figures.infusions == 5
    assert figures.revenue.net == Decimal("335.50")


def test_a_fixed_number_of_queries_per_location_whatever_the_data(
    clinic, django_assert_num_queries
):
    # 9 per location (sessions, side effects, alerts, chairs, hours, holidays, chair bookings,
    # appointment statuses, payments) + 3 for courses, scores and their instruments' definitions:
    # no query per row.
    with django_assert_num_queries(12):
        clinic_figures(locations=[clinic], date_from=FROM, date_to=TO)
