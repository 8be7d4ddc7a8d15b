"""GET /api/v1/patients/{id}/chart (issue 13 operation c): the patient and their latest 20 vitals
sets over all their sessions, newest first, in a fixed number of queries; another location's
patient is a 404 with a `denied` event; every read leaves one `view` event naming the readings."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.infusions.models import VitalSign
from tests.factories import PatientFactory, api_client, make_user

from .factories import NORMAL, session_for

pytestmark = pytest.mark.django_db


def _readings(nurse, session, count: int, *, start_minutes_ago: int) -> list[VitalSign]:
    """`count` readings a minute apart (stored directly: the chart only reads them)."""
    start = timezone.now() - timedelta(minutes=start_minutes_ago)
    return VitalSign.objects.bulk_create(
        VitalSign(
            session=session,
            phase="infusion",
            taken_at=start + timedelta(minutes=i),
            recorded_by=nurse,
            **{**NORMAL, "heart_rate_bpm": 60 + i},
        )
        for i in range(count)
    )


def _chart(client, patient):
    return client.get(f"/api/v1/patients/{patient.pk}/chart")


def test_chart_has_the_patient_and_the_latest_20_vitals_sets_newest_first(
    nurse, patient, order, location, session
):
    older = session_for(nurse, patient, order, location)
    _readings(nurse, older, 15, start_minutes_ago=24 * 60)
    _readings(nurse, session, 12, start_minutes_ago=30)
    expected = list(
        VitalSign.objects.filter(session__patient=patient).order_by("-taken_at", "-pk")[:20]
    )

    response = _chart(api_client(nurse), patient)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["patient"]["id"] == patient.pk
    assert body["patient"]["mrn"] == patient.mrn
    assert body["patient"]["weight"]["unit"] == "kg"
    vitals = body["vitals"]
    assert [v["id"] for v in vitals] == [v.pk for v in expected]
    assert len(vitals) == 20
    # Both sessions appear: the 12 of today and the newest 8 of the older one.
    assert {v["session_id"] for v in vitals} == {session.pk, older.pk}
    first = vitals[0]
    assert first["systolic_mmhg"] == NORMAL["systolic_mmhg"]
    assert first["heart_rate_bpm"] == 60 + 11
    assert first["phase"] == "infusion"
    assert set(first) == {
        "id",
        "session_id",
        "phase",
        "taken_at",
        "systolic_mmhg",
        "diastolic_mmhg",
        "heart_rate_bpm",
        "spo2_pct",
        "respiratory_rate",
        "sedation",
        "dissociation",
    }


def test_chart_costs_the_same_queries_whatever_the_history_size(
    nurse, patient, order, location, session
):
    client = api_client(nurse)
    _readings(nurse, session, 2, start_minutes_ago=30)
    _chart(client, patient)  # token's last-used stamp written once
    with CaptureQueriesContext(connection) as small:
        assert _chart(client, patient).status_code == 200
    for days in (3, 2, 1):
        older = session_for(nurse, patient, order, location)
        _readings(nurse, older, 30, start_minutes_ago=days * 24 * 60)
    with CaptureQueriesContext(connection) as large:
        assert len(_chart(client, patient).json()["vitals"]) == 20
    assert len(large.captured_queries) == len(small.captured_queries)


def test_chart_read_writes_one_view_event_naming_the_readings(nurse, patient, session):
    readings = _readings(nurse, session, 3, start_minutes_ago=30)
    before = AuditEvent.objects.count()

    _chart(api_client(nurse), patient)

    (event,) = AuditEvent.objects.order_by("seq")[before:]
    assert event.action == "view"
    assert event.patient_id == patient.pk
    assert event.actor_id == nurse.pk
    assert event.object_id == str(patient.pk)
    assert event.channel == "api"
    assert event.detail == {"vital_ids": [r.pk for r in reversed(readings)]}


def test_front_desk_reads_the_chart_without_vitals(location, nurse, patient, session):
    _readings(nurse, session, 3, start_minutes_ago=30)
    desk = make_user("front_desk", location)

    response = _chart(api_client(desk), patient)

    assert response.status_code == 200
    assert response.json()["patient"]["id"] == patient.pk
    assert response.json()["vitals"] is None


def test_another_locations_patient_is_a_404_with_a_denied_event(other_location, nurse, session):
    elsewhere = PatientFactory(home_location=other_location)

    response = _chart(api_client(nurse), elsewhere)

    assert response.status_code == 404
    assert response.json()["message"]
    denied = AuditEvent.objects.filter(action="denied", actor=nurse).get()
    assert denied.detail["requested_id"] == str(elsewhere.pk)
    assert not AuditEvent.objects.filter(action="view", patient=elsewhere).exists()


def test_the_chart_route_is_in_the_openapi_schema(client):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/patients/{patient_id}/chart"]["get"]
    assert set(operation["responses"]) >= {"200", "401", "404"}
