"""Idempotency keys (issue 11, concurrency): a retried POST with the same Idempotency-Key and body
replays the first answer and creates nothing; the same key with another body is refused; keys are
per user and expire; concurrent retries on PostgreSQL create exactly one patient."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from infusionclinic.api.idempotency import HEADER, REPLAYED_HEADER
from infusionclinic.audit.models import AuditEvent
from infusionclinic.ops.models import IdempotencyKey
from infusionclinic.patients import services as patient_services
from infusionclinic.patients.models import Patient
from tests.factories import api_client, make_user

from .helpers import API, assert_error, new_patient_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def front_desk(location):
    return make_user("front_desk", location)


def post(client: Client, body: dict, key: str | None) -> object:
    headers = {HEADER: key} if key is not None else {}
    return client.post(
        f"{API}/patients", data=json.dumps(body), content_type="application/json", headers=headers
    )


def test_a_retry_with_the_same_key_replays_the_answer_and_creates_nothing(front_desk, location):
    client = api_client(front_desk)
    body = new_patient_body(location.code)
    first = post(client, body, "visit-7f3c")
    events_after_first = AuditEvent.objects.count()

    retry = post(client, body, "visit-7f3c")

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first
    assert Patient.objects.count() == 1
    assert AuditEvent.objects.count() == events_after_first  # the handler did not run again


def test_without_a_key_each_post_creates_a_patient(front_desk, location):
    client = api_client(front_desk)
    body = new_patient_body(location.code)
    assert post(client, body, None).status_code == 201
    assert post(client, body, None).status_code == 201
    assert Patient.objects.count() == 2


def test_the_same_key_with_a_different_body_answers_422_and_creates_nothing(front_desk, location):
    client = api_client(front_desk)
    post(client, new_patient_body(location.code), "k-1")

    reused = post(client, new_patient_body(location.code, given_name="Other"), "k-1")

    body = assert_error(reused, 422)
    assert HEADER in body["errors"]
    assert "different request body" in body["message"]
    assert Patient.objects.count() == 1


def test_keys_are_per_user(front_desk, location):
    colleague = make_user("front_desk", location)
    body = new_patient_body(location.code)
    first = post(api_client(front_desk), body, "shared-key")
    other = post(api_client(colleague), body, "shared-key")
    assert first.status_code == other.status_code == 201
    assert first.json()["id"] != other.json()["id"]
    assert REPLAYED_HEADER not in other


def test_a_refused_request_releases_its_key_for_the_corrected_retry(front_desk, location):
    client = api_client(front_desk)
    refused = post(client, new_patient_body(location.code, birth_date="not a date"), "k-2")
    assert refused.status_code == 422
    corrected = post(client, new_patient_body(location.code), "k-2")
    assert corrected.status_code == 201
    assert REPLAYED_HEADER not in corrected
    assert Patient.objects.count() == 1


def test_an_expired_key_runs_the_request_again(front_desk, location, settings):
    client = api_client(front_desk)
    body = new_patient_body(location.code)
    post(client, body, "k-3")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    again = post(client, body, "k-3")

    assert again.status_code == 201
    assert REPLAYED_HEADER not in again
    assert Patient.objects.count() == 2
    assert IdempotencyKey.objects.count() == 1  # the expired row (and its stored answer) went


def test_keys_expire_after_the_configured_hours(front_desk, location, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    before = timezone.now()
    post(api_client(front_desk), new_patient_body(location.code), "k-4")
    row = IdempotencyKey.objects.get()
    assert timedelta(hours=24) <= row.expires_at - before < timedelta(hours=24, minutes=1)


@pytest.mark.parametrize("key", ["", "x" * 256, "spaces are not allowed", "ключ"])
def test_a_malformed_key_answers_422_and_creates_nothing(front_desk, location, key):
    response = post(api_client(front_desk), new_patient_body(location.code), key)
    assert_error(response, 422)
    assert Patient.objects.count() == 0


def test_the_openapi_schema_documents_the_header(front_desk):
    schema = api_client(front_desk).get(f"{API}/openapi.json").json()
    parameters = schema["paths"]["/api/v1/patients"]["post"]["parameters"]
    assert any(p["name"] == HEADER and p["in"] == "header" for p in parameters)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_retries_on_postgresql_create_exactly_one_patient(location, monkeypatch):
    front_desk = make_user("front_desk", location)
    client_headers = api_client(front_desk).defaults
    body = new_patient_body(location.code)
    real_create = patient_services.patient_create
    started = threading.Event()

    def slow_create(**kwargs):
        # Hold the first request's transaction open so the retry arrives while it runs.
        started.set()
        time.sleep(0.5)
        return real_create(**kwargs)

    monkeypatch.setattr(patient_services, "patient_create", slow_create)
    answers: list[object] = []

    def send() -> None:
        try:
            answers.append(post(Client(**client_headers), body, "monitor-retry-1"))
        finally:
            connections.close_all()

    first = threading.Thread(target=send)
    first.start()
    assert started.wait(timeout=10)
    second = threading.Thread(target=send)
    second.start()
    first.join(timeout=30)
    second.join(timeout=30)

    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert Patient.objects.count() == 1
    assert sum(1 for a in answers if a.get(REPLAYED_HEADER) == "true") == 1
