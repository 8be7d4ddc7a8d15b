"""The messaging and check-in API (issue 18 section 4): the same access rules as the pages (404),
attachments sniffed and downloaded safely, read marks, crisis resources, the OpenAPI document —
and FHIR Communication (issue 18 section 3) in the bundle and at /fhir/Communication."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.fhir.resources import validate
from infusionclinic.messaging import services
from infusionclinic.messaging.models import Thread
from tests.factories import add_weight, api_client, make_user

from .conftest import PDF

pytestmark = pytest.mark.django_db

API = "/api/v1/messages"


def test_patient_creates_a_thread_uploads_a_pdf_and_sends_it(patient_user, nurse):
    client = api_client(patient_user)
    created = client.post(
        f"{API}/threads",
        {"category": "clinical", "subject": "Labs", "body": "Here are my labs"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert "not for emergencies" in data["notice"]
    assert data["crisis"] is None
    thread_id = data["thread"]["id"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = client.post(
        f"{API}/threads/{thread_id}/attachments",
        {"file": SimpleUploadedFile("labs.png", PDF, content_type="image/png")},
    )
    assert upload.status_code == 201, upload.content
    assert upload.json()["content_type"] == "application/pdf"
    attachment_id = upload.json()["id"]
    sent = client.post(
        f"{API}/threads/{thread_id}/messages",
        {"body": "attached", "attachment_ids": [attachment_id]},
        content_type="application/json",
    )
    assert sent.status_code == 201, sent.content
    assert sent.json()["message"]["attachments"][0]["id"] == attachment_id
    staff = api_client(nurse)
    listing = staff.get(f"{API}/threads/{thread_id}/messages")
    assert [m["body"] for m in listing.json()] == ["Here are my labs", "attached"]
    download = staff.get(f"{API}/attachments/{attachment_id}")
    assert download.status_code == 200
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Disposition"].startswith("attachment")
    assert b"".join(download.streaming_content) == PDF


def test_api_refuses_content_that_is_not_pdf_jpeg_png(patient_user, clinical_thread):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api_client(patient_user).post(
        f"{API}/threads/{clinical_thread.pk}/attachments",
        {
            "file": SimpleUploadedFile(
                "a.pdf", b"#!/bin/sh\nrm -rf /", content_type="application/pdf"
            )
        },
    )
    assert response.status_code == 422
    assert "file" in response.json()["errors"]


@pytest.mark.parametrize("who", ["other_patient_user", "front_desk", "other_nurse", "admin_user"])
def test_api_answers_404_outside_the_rule(request, who, clinical_thread):
    user = request.getfixturevalue(who)
    client = api_client(user)
    for method, path, body in [
        ("get", f"{API}/threads/{clinical_thread.pk}", None),
        ("get", f"{API}/threads/{clinical_thread.pk}/messages", None),
        ("post", f"{API}/threads/{clinical_thread.pk}/messages", {"body": "x"}),
        ("post", f"{API}/threads/{clinical_thread.pk}/read", None),
        ("patch", f"{API}/threads/{clinical_thread.pk}", {"status": "closed"}),
    ]:
        kwargs = {"content_type": "application/json", "data": body} if body else {}
        response = getattr(client, method)(path, **kwargs)
        assert response.status_code == 404, (method, path, response.content)
    assert Thread.objects.get(pk=clinical_thread.pk).message_count == 1
    assert AuditEvent.objects.filter(action=AuditAction.DENIED, actor=user).exists()


def test_api_thread_list_is_scoped(
    patient_user, other_patient_user, front_desk, clinical_thread, admin_thread
):
    assert {t["id"] for t in api_client(patient_user).get(f"{API}/threads").json()} == {
        clinical_thread.pk,
        admin_thread.pk,
    }
    assert api_client(other_patient_user).get(f"{API}/threads").json() == []
    assert [t["id"] for t in api_client(front_desk).get(f"{API}/threads").json()] == [
        admin_thread.pk
    ]


def test_api_crisis_words_return_the_crisis_resources(patient_user, clinical_thread, settings):
    response = api_client(patient_user).post(
        f"{API}/threads/{clinical_thread.pk}/messages",
        {"body": "I keep thinking about suicide"},
        content_type="application/json",
    )
    assert response.status_code == 201
    crisis = response.json()["crisis"]
    assert crisis["crisis_line"] == settings.OUTCOMES_CRISIS_LINE
    assert response.json()["thread"]["urgent"] is True


def test_api_read_marks(patient_user, nurse, clinical_thread):
    services.message_send(actor=nurse, thread=clinical_thread, body="Answer")
    client = api_client(patient_user)
    assert client.get(f"{API}/threads/{clinical_thread.pk}").json()["unread"] is True
    marked = client.post(f"{API}/threads/{clinical_thread.pk}/read")
    assert marked.status_code == 200
    assert client.get(f"{API}/threads/{clinical_thread.pk}").json()["unread"] is False


def test_api_staff_patch_and_patient_may_not(nurse, patient_user, clinical_thread):
    ok = api_client(nurse).patch(
        f"{API}/threads/{clinical_thread.pk}",
        {"status": "in_progress", "assignee_id": nurse.pk},
        content_type="application/json",
    )
    assert ok.status_code == 200
    assert ok.json()["assignee_id"] == nurse.pk
    refused = api_client(patient_user).patch(
        f"{API}/threads/{clinical_thread.pk}", {"status": "closed"}, content_type="application/json"
    )
    assert refused.status_code == 403


def test_api_bad_input_is_422(patient_user):
    response = api_client(patient_user).post(
        f"{API}/threads",
        {"category": "gossip", "subject": "", "body": "x"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert {"category", "subject"} <= set(response.json()["errors"])


def test_openapi_documents_messages_and_checkins(patient_user):
    paths = api_client(patient_user).get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/messages/threads",
        "/api/v1/messages/threads/{thread_id}",
        "/api/v1/messages/threads/{thread_id}/messages",
        "/api/v1/messages/threads/{thread_id}/attachments",
        "/api/v1/messages/threads/{thread_id}/read",
        "/api/v1/messages/attachments/{attachment_id}",
        "/api/v1/checkins/due",
        "/api/v1/checkins/{checkin_id}/answers",
    ):
        assert path in paths, path


# --- Check-ins --------------------------------------------------------------------------------


@pytest.fixture
def due_checkin(patient, prescriber, location):
    from infusionclinic.courses import services as course_services
    from infusionclinic.courses.models import CheckIn

    add_weight(patient, "80.0", timezone.localdate(timezone=location.tzinfo) - timedelta(days=2))
    course = course_services.course_start(
        actor=prescriber,
        patient=patient,
        indication="depression",
        started_at=timezone.now() - timedelta(days=8),
    )
    now = timezone.now().astimezone(UTC)
    return CheckIn.objects.create(
        course=course,
        instrument_code="PHQ-9",
        phase=course.phase,
        every_days=7,
        due_on=now.astimezone(location.tzinfo).date(),
        due_at=now - timedelta(hours=1),
    )


def test_checkins_due_and_answers_with_item_9_raise_scale4(patient_user, due_checkin, settings):
    """Issue 18 §4 over §2's services: GET due lists it with its items; POST answers scores it
    with the one engine; PHQ-9 item 9 = 1 (SCALE-4) returns the crisis resources."""
    client = api_client(patient_user)
    due = client.get("/api/v1/checkins/due")
    assert due.status_code == 200
    [row] = due.json()
    assert row["id"] == due_checkin.pk
    assert len(row["items"]) == 9
    answered = client.post(
        f"/api/v1/checkins/{due_checkin.pk}/answers",
        {"answers": [0] * 8 + [1]},
        content_type="application/json",
    )
    assert answered.status_code == 201, answered.content
    body = answered.json()
    assert body["total"] == 1
    assert "SCALE-4" in body["alert_rule_ids"]
    assert body["crisis"]["crisis_line"] == settings.OUTCOMES_CRISIS_LINE
    assert client.get("/api/v1/checkins/due").json() == []
    again = client.post(
        f"/api/v1/checkins/{due_checkin.pk}/answers",
        {"answers": [0] * 9},
        content_type="application/json",
    )
    assert again.status_code == 422


def test_checkins_api_is_the_patients_own(due_checkin, location, nurse):
    other = make_user("patient")
    from tests.factories import PatientFactory

    PatientFactory(home_location=location, user=other)
    for user in (other, nurse):
        response = api_client(user).post(
            f"/api/v1/checkins/{due_checkin.pk}/answers",
            {"answers": [0] * 9},
            content_type="application/json",
        )
        assert response.status_code in (403, 404)
    other_answer = api_client(other).post(
        f"/api/v1/checkins/{due_checkin.pk}/answers",
        {"answers": [0] * 9},
        content_type="application/json",
    )
    assert other_answer.status_code == 404


def test_checkin_answers_are_validated_by_the_engine(patient_user, due_checkin):
    response = api_client(patient_user).post(
        f"/api/v1/checkins/{due_checkin.pk}/answers",
        {"answers": [0, 9]},
        content_type="application/json",
    )
    assert response.status_code == 422


# --- FHIR Communication -------------------------------------------------------------------------


def test_fhir_bundle_has_validated_communications(nurse, clinical_thread, patient):
    services.message_send(actor=nurse, thread=clinical_thread, body="Answer")
    bundle = api_client(nurse).get(f"/api/v1/patients/{patient.pk}/fhir").json()
    comms = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Communication"
    ]
    assert len(comms) == 2
    for resource in comms:
        validate(resource)
    assert comms[0]["sender"] == {"reference": f"Patient/{patient.pk}"}
    assert comms[1]["recipient"] == [{"reference": f"Patient/{patient.pk}"}]


def test_fhir_communication_rest_read_and_search(
    nurse, front_desk, other_nurse, admin_user, clinical_thread, admin_thread, patient
):
    message = clinical_thread.messages.get()
    nurse_client = api_client(nurse)
    read = nurse_client.get(f"/fhir/Communication/{message.pk}")
    assert read.status_code == 200
    validate(read.json())
    search = nurse_client.get(f"/fhir/Communication?patient=Patient/{patient.pk}").json()
    assert search["total"] == 2
    # Front desk reads no clinical resource through FHIR (issue 22 point 1: demographics, weight
    # and height), so not even its administrative threads; another location: nothing.
    assert api_client(front_desk).get(f"/fhir/Communication/{message.pk}").status_code == 404
    assert api_client(front_desk).get("/fhir/Communication").json()["total"] == 0
    assert api_client(other_nurse).get(f"/fhir/Communication/{message.pk}").status_code == 404
    # The admin reads the clinical chart but no messages (messaging's rule, the source's
    # `restrict`): not in read, search, $everything or the Bundle.
    admin = api_client(admin_user)
    assert admin.get(f"/fhir/Communication/{message.pk}").status_code == 404
    assert admin.get("/fhir/Communication").json()["total"] == 0
    for url in (f"/fhir/Patient/{patient.pk}/$everything", f"/api/v1/patients/{patient.pk}/fhir"):
        entries = admin.get(url).json().get("entry", [])
        assert entries
        assert not [e for e in entries if e["resource"]["resourceType"] == "Communication"]
    assert AuditEvent.objects.filter(
        action=AuditAction.SEARCH, detail__fhir="Communication"
    ).exists()


def test_bulk_export_includes_communications(nurse, clinical_thread):
    from infusionclinic.fhir.resources import resources_for
    from infusionclinic.patients.models import Patient

    types = [r["resourceType"] for r in resources_for(Patient.objects.all())]
    assert types.count("Communication") == 1
