"""Issue 18 section 1 (and issue 13's budget, as tests/test_query_counts.py pins it for the staff
pages): the patient's portal home issues as many queries with a long history as with a short
one — more check-ins open, more appointments, more scores from both sources, more signed
consent PDFs, invoices, receipts and superbills. A count that grows is an N+1 query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import logged_in_client

from .builders import (
    booked,
    course,
    open_checkin,
    paid_visit,
    portal_patient,
    scores,
    signed_consents_with_pdf,
)

pytestmark = pytest.mark.django_db


def _home_queries(client) -> int:  # noqa: ANN001
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/my/")
    assert response.status_code == 200
    return len(captured)


def test_the_portal_home_query_count_stays_constant_as_the_history_grows(location):
    p = portal_patient(location)
    tc = course(p)
    open_checkin(tc, days_ago=1)
    booked(p, starts_in=timedelta(days=3), kind="infusion")
    scores(p, clinic=[15], home=[12])
    paid_visit(p, days_ago=20)
    client = logged_in_client(p.user)
    _home_queries(client)  # warm the session and the instrument cache
    small = _home_queries(client)

    signed_consents_with_pdf(p)
    for days in (2, 3, 4, 5):
        open_checkin(tc, days_ago=days, code="GAD-7" if days % 2 else "PHQ-9")
    for days in (6, 9, 12, 15):
        booked(p, starts_in=timedelta(days=days), kind="follow_up")
    scores(p, clinic=[20, 18, 16, 14], home=[13, 11, 9, 8, 6, 4])
    for days in (8, 12, 16, 24, 28):
        paid_visit(p, days_ago=days)
    grown = _home_queries(client)

    assert grown == small, f"the portal home ran {small} queries, then {grown} with more data"
