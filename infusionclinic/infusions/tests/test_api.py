"""POST /api/v1/sessions/{session_id}/vitals (issue 7 item 7), state changes, and 404 for
another location's staff and another patient."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.infusions.models import VitalSign
from tests.factories import api_client, make_user

from .factories import NORMAL, checked_in, infusing


def _post(client, session, body, **headers):
    return client.post(
        f"/api/v1/sessions/{session.pk}/vitals",
        data=json.dumps(body, default=str),
        content_type="application/json",
        headers=headers,
    )


def _body(**values):
    return {**NORMAL, "taken_at": timezone.now().isoformat(), **values}


def test_vitals_post_returns_reading_with_alerts(nurse, session):
    infusing(nurse, session)
    response = _post(api_client(nurse), session, _body(spo2_pct=89, sedation=4))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["spo2_pct"] == 89
    assert data["sedation"] == 4
    assert [(a["rule_id"], a["level"]) for a in data["alerts"]] == [("MON-O2-2", "critical")]
    assert "oxygen" in data["alerts"][0]["action"]
    assert set(data["alerts"][0]) >= {"rule_id", "level", "message", "action"}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"systolic_mmhg": 80, "diastolic_mmhg": 80}, "systolic_mmhg"),
        ({"spo2_pct": 101}, "spo2_pct"),
        ({"taken_at": "FUTURE"}, "taken_at"),
    ],
)
def test_implausible_vitals_answer_422(nurse, session, values, field):
    checked_in(nurse, session)
    if values.get("taken_at") == "FUTURE":
        values["taken_at"] = (timezone.now() + timedelta(minutes=10)).isoformat()
    response = _post(api_client(nurse), session, _body(**values))
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert not VitalSign.objects.exists()


def test_retried_vitals_post_with_same_idempotency_key_stores_one_reading(nurse, session):
    checked_in(nurse, session)
    client = api_client(nurse)
    body = _body()
    first = _post(client, session, body, **{"Idempotency-Key": "monitor-7-0001"})
    again = _post(client, session, body, **{"Idempotency-Key": "monitor-7-0001"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert VitalSign.objects.count() == 1
    other = _post(client, session, _body(), **{"Idempotency-Key": "monitor-7-0002"})
    assert other.status_code == 201
    assert VitalSign.objects.count() == 2


def test_state_change_endpoints_and_bp_gate(nurse, session):
    client = api_client(nurse)
    r = client.post(
        f"/api/v1/sessions/{session.pk}/check-in",
        data={"identity_confirmed": True, "escort_name": "", "escort_phone": ""},
        content_type="application/json",
    )
    assert r.status_code == 422
    assert "escort_name" in r.json()["errors"]  # PRE-5
    r = client.post(
        f"/api/v1/sessions/{session.pk}/check-in",
        data={"identity_confirmed": True, "escort_name": "Sam", "escort_phone": "555 010 0100"},
        content_type="application/json",
    )
    assert r.json()["state"] == "checked_in"
    r = client.post(
        f"/api/v1/sessions/{session.pk}/pump",
        data={"action": "start"},
        content_type="application/json",
    )
    assert r.status_code == 422  # pre-checks not done


def test_pump_endpoint_pauses_and_reports_dose(nurse, session):
    infusing(nurse, session)
    r = api_client(nurse).post(
        f"/api/v1/sessions/{session.pk}/pump",
        data={"action": "pause", "reason": "nausea"},
        content_type="application/json",
    )
    assert r.status_code == 200
    assert r.json()["state"] == "paused"
    assert r.json()["dose_given_mg"] >= 0


def test_alert_acknowledge_endpoint(nurse, session):
    infusing(nurse, session)
    alert_id = _post(api_client(nurse), session, _body(heart_rate_bpm=160)).json()["alerts"][0][
        "id"
    ]
    r = api_client(nurse).post(f"/api/v1/sessions/{session.pk}/alerts/{alert_id}/acknowledge")
    assert r.status_code == 200
    assert r.json()["acknowledged"] is True


@pytest.mark.parametrize("who", ["other_location_nurse", "patient_user", "other_patient_user"])
def test_session_routes_answer_404_to_others(who, session, other_location, location):
    from tests.factories import PatientFactory

    user = {
        "other_location_nurse": lambda: make_user("nurse", other_location),
        "patient_user": lambda: session.patient.user,
        "other_patient_user": lambda: make_user(
            "patient", patient=PatientFactory(home_location=location)
        ),
    }[who]()
    client = api_client(user)
    assert client.get(f"/api/v1/sessions/{session.pk}").status_code == 404
    assert _post(client, session, _body()).status_code == 404
    r = client.post(
        f"/api/v1/sessions/{session.pk}/pump",
        data={"action": "start"},
        content_type="application/json",
    )
    assert r.status_code == 404
    batch = client.post(
        f"/api/v1/sessions/{session.pk}/vitals/batch",
        data=json.dumps({"readings": [_body()]}),
        content_type="application/json",
    )
    assert batch.status_code == 404
    assert not VitalSign.objects.exists()
    assert AuditEvent.objects.filter(actor=user, action=AuditAction.DENIED).exists()
    assert client.get("/api/v1/sessions/99999999").status_code == 404


def test_session_detail_is_audited_as_a_view(nurse, session):
    r = api_client(nurse).get(f"/api/v1/sessions/{session.pk}")
    assert r.status_code == 200
    assert r.json()["state"] == "scheduled"
    assert AuditEvent.objects.filter(actor=nurse, action=AuditAction.VIEW).exists()


def test_state_changes_over_the_api_pre_checks_to_discharge_scores(nurse, session):
    """Issue 7 item 7: the session's state changes have endpoints (pre-checks with the
    questionnaires read from outcomes, pump, DIS-1/DIS-2 scores → DIS-3 problems)."""
    from tests.factories import session_cs_closed, session_ready_to_start

    from .factories import GOOD_ALDRETE, GOOD_PADSS, questionnaires_done

    client = api_client(nurse)

    def post(path, body):
        return client.post(
            f"/api/v1/sessions/{session.pk}/{path}",
            data=json.dumps(body),
            content_type="application/json",
        )

    checked_in(nurse, session)
    assert _post(client, session, _body()).status_code == 201
    pre = {"fasting_confirmed": True, "pregnancy_test": "negative", "weight_kg": "80.5"}
    refused = post("pre-checks", pre)
    assert refused.status_code == 422
    assert "questionnaires" in refused.json()["errors"]
    questionnaires_done(nurse, session)
    assert post("pre-checks", pre).json()["state"] == "pre_checks"
    refused = post("pump", {"action": "start"})  # issue 21 point 6: no registration, no draw
    assert refused.status_code == 422
    assert "CS-31, CS-42" in str(refused.json())
    detail = client.get(f"/api/v1/sessions/{session.pk}").json()
    assert any(p.startswith("CS-4: ") for p in detail["controlled"]["start_problems"])
    session_ready_to_start(nurse, session)
    assert post("pump", {"action": "start"}).json()["state"] == "infusing"
    assert post("pump", {"action": "stop"}).json()["state"] == "recovering"
    session_cs_closed(nurse, session)
    low = post("discharge-scores", {"aldrete": {**GOOD_ALDRETE, "spo2": 0}, "padss": GOOD_PADSS})
    assert any("DIS-1" in p for p in low.json()["discharge_problems"])
    good = post("discharge-scores", {"aldrete": GOOD_ALDRETE, "padss": GOOD_PADSS})
    assert good.status_code == 200
    assert not any(p.startswith("DIS-1") for p in good.json()["discharge_problems"])


def _post_batch(client, session, readings, **headers):
    return client.post(
        f"/api/v1/sessions/{session.pk}/vitals/batch",
        data=json.dumps({"readings": readings}, default=str),
        content_type="application/json",
        headers=headers,
    )


@pytest.mark.parametrize("seal_mode", ["inline", "after_commit"])
def test_vitals_batch_stores_each_reading_with_its_alerts_and_audit_event(
    nurse, session, settings, seal_mode
):
    settings.AUDIT_SEAL_MODE = seal_mode
    infusing(nurse, session)
    readings = [_body(), _body(spo2_pct=89, sedation=4), _body(heart_rate_bpm=80)]
    response = _post_batch(api_client(nurse), session, readings, **{"Idempotency-Key": "b-1"})
    assert response.status_code == 201, response.content
    data = response.json()["readings"]
    assert [r["spo2_pct"] for r in data] == [98, 89, 98]
    assert [[a["rule_id"] for a in r["alerts"]] for r in data] == [[], ["MON-O2-2"], []]
    stored = VitalSign.objects.filter(session=session, phase="infusion").order_by("pk")
    assert [v.pk for v in stored] == [r["id"] for r in data]
    events = AuditEvent.objects.filter(
        object_type="infusions.VitalSign", object_id__in=[str(r["id"]) for r in data]
    ).order_by("id")
    assert [(e.action, e.patient_id, e.actor_id) for e in events] == [
        ("create", session.patient_id, nurse.pk)
    ] * 3
    assert events[1].detail == {"session": session.pk, "event": "vitals", "alerts": ["MON-O2-2"]}


def test_vitals_batch_is_all_or_nothing_with_indexed_field_errors(nurse, session):
    infusing(nurse, session)
    before = VitalSign.objects.count()
    response = _post_batch(
        api_client(nurse), session, [_body(), _body(spo2_pct=101), _body(systolic_mmhg=70)]
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"readings.1.spo2_pct", "readings.2.systolic_mmhg"} <= set(errors)
    assert VitalSign.objects.count() == before


@pytest.mark.parametrize("count", [0, 61])
def test_vitals_batch_takes_1_to_60_readings(nurse, session, count):
    checked_in(nurse, session)
    response = _post_batch(api_client(nurse), session, [_body()] * count)
    assert response.status_code == 422
    assert not VitalSign.objects.exists()


def test_retried_vitals_batch_replays_and_stores_once(nurse, session):
    checked_in(nurse, session)
    client = api_client(nurse)
    readings = [_body(), _body()]
    first = _post_batch(client, session, readings, **{"Idempotency-Key": "batch-7"})
    again = _post_batch(client, session, readings, **{"Idempotency-Key": "batch-7"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert VitalSign.objects.count() == 2


def test_vitals_post_answers_in_a_fixed_number_of_queries(
    nurse, session, django_assert_max_num_queries
):
    infusing(nurse, session)
    client = api_client(nurse)
    _post(client, session, _body(), **{"Idempotency-Key": "warm"})
    # token; key (savepoint, insert, release); session; vital_record's savepoint, lock, insert,
    # baseline, warning signs still present (MON-BP-4/MON-X-1, one union), audit (inline seal:
    # 4), release; stored answer; the request's own savepoint (the
    # test's transaction) and release. No alert query: the answer lists the alerts just made.
    with django_assert_max_num_queries(18):
        response = _post(client, session, _body(), **{"Idempotency-Key": "q-1"})
    assert response.status_code == 201
