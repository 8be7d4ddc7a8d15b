"""Issue 13 budget "query counts independent of data size", as a test: each hot page and endpoint
(the ones bench/run.py times, defined once in bench.dataset.hot_requests) is measured with a
small clinic, then again after the clinic has grown — more patients matching the search, more
sessions on today's board, more vitals, orders, measurements and diagnoses on the chart read,
more assessments on the progress chart — and must issue exactly as many queries. A count that
grows with the data is an N+1 query; the failure names the page.

The speed itself is measured by `make bench`, never in a timed test."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bench.dataset import (
    PHQ9_WEEKS,
    Fixtures,
    _bench_patient,
    clinic_fixtures,
    hot_requests,
    inprocess_clients,
    operations,
    query_counts,
    send,
    session_in_progress,
)
from infusionclinic.infusions import services as infusion_services
from infusionclinic.outcomes.services import assessment_submit
from infusionclinic.patients.models import Patient
from infusionclinic.patients.services import allergy_add, diagnosis_add
from tests.factories import PatientFactory, add_weight

pytestmark = pytest.mark.django_db


def _smiths(location, count: int) -> None:
    """Patients the prefix search "smi" finds (the page and the API list up to 20 / 50)."""
    for _ in range(count):
        PatientFactory(home_location=location, family_name=f"Smith{Patient.objects.count()}")


def _grow(fx: Fixtures, location) -> None:
    nurse, prescriber = fx.users["nurse"], fx.users["prescriber"]
    chart = Patient.objects.get(pk=fx.course_patient_ids[0])
    _smiths(location, 30)
    # Today's board: three more infusions running.
    for n in range(3):
        patient = _bench_patient(location, 100 + n, prescriber=prescriber)
        session_in_progress(patient=patient, nurse=nurse, prescriber=prescriber, location=location)
    # The chart patient: a second infusion, more readings, weights, diagnoses, allergies.
    session_in_progress(patient=chart, nurse=nurse, prescriber=prescriber, location=location)
    session = chart.infusion_sessions.order_by("pk").first()
    # Readings taken up to 12 min ago need a check-in before them (issue 21 point 12).
    type(session).objects.filter(pk=session.pk).update(
        checked_in_at=timezone.now() - timedelta(minutes=15)
    )
    for minutes in range(1, 13):
        infusion_services.vital_record(
            actor=nurse,
            session=session,
            taken_at=timezone.now() - timedelta(minutes=minutes),
            systolic_mmhg=118,
            diastolic_mmhg=76,
            heart_rate_bpm=70,
            spo2_pct=98,
            respiratory_rate=14,
        )
    for days in (40, 50, 60):
        add_weight(chart, "79.5", timezone.localdate() - timedelta(days=days))
    diagnosis_add(actor=prescriber, patient=chart, code="F33.1", is_primary=False)
    allergy_add(actor=prescriber, patient=chart, substance="Latex", severity="mild")
    # The progress chart: four more weekly scores.
    for week in range(4):
        assessment_submit(
            actor=prescriber,
            patient=chart,
            instrument_code="PHQ-9",
            answers=PHQ9_WEEKS[week],
            completed_at=timezone.now() - timedelta(days=3, hours=week),
        )


def test_hot_pages_and_endpoints_issue_as_many_queries_with_more_data(location):
    fx = clinic_fixtures(location_code=location.code, sessions=2, courses=1, weeks=2)
    _smiths(location, 2)
    chart_id = fx.course_patient_ids[0]
    setup = {"location": location.code, "chart_patient_ids": [chart_id]}
    hots = hot_requests(
        location_code=location.code,
        chart_patient_ids=[chart_id],
        session_ids=fx.session_ids,
        course_patient_ids=[chart_id],
    ) + operations(setup)
    clients = inprocess_clients(fx.users)

    small = query_counts(clients, hots)
    _grow(fx, location)
    grown = query_counts(clients, hots)

    assert small["floor: GET /api/v1/health"] == 0
    grows = {n: f"{small[n]} -> {grown[n]}" for n in small if small[n] != grown[n]}
    assert not grows, f"query count depends on the data size: {grows}"


def test_staff_inbox_and_patient_home_issue_as_many_queries_with_more_messages(location):
    """Issue 18 "Done when" (bench/): the staff inbox, the patient home (unread line and
    messages panel), the patient's message list and thread list API, and a thread page issue
    as many queries with 30 threads (300 messages) as with 3 (30). bench/messaging.py runs the
    same pages with 1,000 vs 100,000 messages."""
    from bench.messaging import bench_fixtures, hot_pages, measure, seed_messages
    from infusionclinic.messaging.models import Thread

    del location  # bench_fixtures makes its own location
    loc, patient, patient_user, fx = bench_fixtures()
    seed_messages(
        location=loc, patient=patient, patient_user=patient_user, staff=fx["nurse"], messages=30
    )
    first = Thread.objects.filter(location=loc).order_by("pk").first()
    pages = hot_pages(location_id=loc.pk, largest_thread_id=first.pk)
    small = measure(fx["clients"], pages)
    seed_messages(
        location=loc, patient=patient, patient_user=patient_user, staff=fx["nurse"], messages=270
    )
    grown = measure(fx["clients"], pages)
    grows = {n: f"{small[n][0]} -> {grown[n][0]}" for n in small if small[n][0] != grown[n][0]}
    assert not grows, f"query count depends on the number of messages: {grows}"


# Issue 20 §3: the round trips of one monitored reading (`POST /api/v1/sessions/{id}/vitals`
# with an Idempotency-Key, the audit event and, after commit, its seal), pinned so that a change
# that adds one fails here. Before issue 20 (main 818ec81): 23 on PostgreSQL with the seal after
# commit (bench/README.md); now the idempotency key is one INSERT … ON CONFLICT (no savepoint),
# the seal locks the head and relaxes its commit in one statement and writes events and head in
# another, and the session, baseline and signs queries are compiled once per process.
VITALS_POST_QUERIES = {
    ("postgresql", "after_commit"): 19,
    ("sqlite", "after_commit"): 20,  # the seal's events and head: two statements
    ("postgresql", "inline"): 16,
    ("sqlite", "inline"): 16,
}


@pytest.mark.parametrize("seal_mode", ["after_commit", "inline"])
def test_vitals_post_issues_the_pinned_number_of_queries(
    location, settings, django_capture_on_commit_callbacks, seal_mode
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from infusionclinic.audit.models import AuditEvent
    from infusionclinic.audit.services import audit_seal_pending

    settings.AUDIT_SEAL_MODE = seal_mode
    fx = clinic_fixtures(location_code=location.code, sessions=1, courses=0, weeks=0)
    vitals = next(
        h
        for h in hot_requests(
            location_code=location.code,
            chart_patient_ids=[],
            session_ids=fx.session_ids,
            course_patient_ids=[],
        )
        if h.name == "vitals POST"
    )
    client = inprocess_clients({"nurse": fx.users["nurse"]})[("nurse", True)]
    assert send(client, vitals).status_code == 201  # warm-up: compiled look-ups, caches
    # The test's transaction never commits: seal what the set-up wrote and forget its pending
    # on-commit seal, so the measured request registers (and runs) its own, as in production.
    audit_seal_pending()
    connection.run_on_commit.clear()
    with (
        CaptureQueriesContext(connection) as ctx,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = send(client, vitals)
    assert response.status_code == 201, response.content
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()  # sealed, and counted
    sql = "\n".join(q["sql"][:120] for q in ctx.captured_queries)
    expected = VITALS_POST_QUERIES[(connection.vendor, seal_mode)]
    assert len(ctx.captured_queries) == expected, f"{len(ctx.captured_queries)} queries:\n{sql}"
