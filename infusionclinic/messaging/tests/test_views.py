"""Messaging pages (issue 18 section 3): 404 outside the access rule, the not-for-emergencies
notice on every compose screen, crisis resources for crisis words, attachments uploaded and
downloaded through access-checked, audited views, filing to the chart, the patient home."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.messaging import services
from infusionclinic.messaging.models import Attachment, Thread, ThreadFiling
from tests.factories import logged_in_client

from .conftest import PDF

pytestmark = pytest.mark.django_db

NOTICE = "Messages are not for emergencies."


def _thread_url(thread):
    return reverse("messaging:thread", kwargs={"thread_id": thread.pk})


@pytest.mark.parametrize(
    ("who", "thread_kind", "expected"),
    [
        ("patient_user", "clinical_thread", 200),
        ("other_patient_user", "clinical_thread", 404),
        ("front_desk", "clinical_thread", 404),
        ("front_desk", "admin_thread", 200),
        ("nurse", "clinical_thread", 200),
        ("prescriber", "clinical_thread", 200),
        ("other_nurse", "clinical_thread", 404),
        ("other_nurse", "admin_thread", 404),
        ("admin_user", "admin_thread", 404),
    ],
)
def test_thread_page_access(request, who, thread_kind, expected):
    """Issue 18 §3: patient own only; staff their locations' only; front desk administrative
    only — 404 (never 403) otherwise, with a denied audit event."""
    user = request.getfixturevalue(who)
    thread = request.getfixturevalue(thread_kind)
    client = logged_in_client(user)
    before = Thread.objects.get(pk=thread.pk).message_count
    assert client.get(_thread_url(thread)).status_code == expected
    post = client.post(_thread_url(thread), {"body": "hello", "status": "in_progress"})
    assert post.status_code == (302 if expected == 200 else 404)
    if expected == 404:
        assert Thread.objects.get(pk=thread.pk).message_count == before
        assert AuditEvent.objects.filter(action=AuditAction.DENIED, actor=user).exists()
        for name in ("thread_update", "thread_file"):
            url = reverse(f"messaging:{name}", kwargs={"thread_id": thread.pk})
            assert client.post(url, {"status": "closed", "assignee": -1}).status_code == 404


def test_inbox_of_another_location_is_404(other_nurse, location):
    client = logged_in_client(other_nurse)
    assert (
        client.get(reverse("messaging:inbox", kwargs={"location_id": location.pk})).status_code
        == 404
    )


def test_front_desk_inbox_lists_only_administrative_threads(
    front_desk, location, clinical_thread, admin_thread
):
    page = logged_in_client(front_desk).get(
        reverse("messaging:inbox", kwargs={"location_id": location.pk})
    )
    body = page.content.decode()
    assert admin_thread.subject in body
    assert clinical_thread.subject not in body
    assert AuditEvent.objects.filter(
        action=AuditAction.VIEW, actor=front_desk, detail__page="message inbox"
    ).exists()


def test_every_compose_screen_says_not_for_emergencies(patient_user, nurse, clinical_thread):
    """Issue 18 §3: every compose screen says plainly that messages are not for emergencies
    (988, 911)."""
    pages = [
        logged_in_client(patient_user).get(reverse("messaging:compose")),
        logged_in_client(patient_user).get(_thread_url(clinical_thread)),
        logged_in_client(nurse).get(_thread_url(clinical_thread)),
    ]
    for page in pages:
        body = page.content.decode()
        assert NOTICE in body
        assert "988" in body
        assert "911" in body


def test_crisis_words_show_the_crisis_resources_and_flag_urgent(patient_user, settings, location):
    """Issue 18 §3 with SCALE-4's crisis resources: a patient's message with crisis words shows
    988 and the clinic's number at once and flags the thread urgent."""
    location.phone = "+1 212 555 0100"
    location.save()
    client = logged_in_client(patient_user)
    response = client.post(
        reverse("messaging:compose"),
        {"category": "administrative", "subject": "Bill", "body": "I don't want to live anymore"},
        follow=True,
    )
    body = response.content.decode()
    assert 'id="crisis-h"' in body
    assert escape(settings.OUTCOMES_CRISIS_LINE) in body
    assert "+1 212 555 0100" in body
    assert Thread.objects.get().urgent is True


def test_an_ordinary_message_shows_no_crisis_banner(patient_user):
    client = logged_in_client(patient_user)
    response = client.post(
        reverse("messaging:compose"),
        {"category": "clinical", "subject": "Nausea", "body": "Is nausea after the visit normal?"},
        follow=True,
    )
    assert 'id="crisis-h"' not in response.content.decode()
    assert Thread.objects.get().urgent is False


def test_compose_with_a_pdf_and_download_is_audited_and_safe(
    patient_user, nurse, other_patient_user
):
    client = logged_in_client(patient_user)
    upload = SimpleUploadedFile("results.pdf", PDF, content_type="image/png")
    response = client.post(
        reverse("messaging:compose"),
        {"category": "clinical", "subject": "Labs", "body": "My results", "file": upload},
    )
    assert response.status_code == 302
    attachment = Attachment.objects.get()
    assert attachment.content_type == "application/pdf"  # from the bytes, not what was sent
    url = reverse("messaging:attachment", kwargs={"attachment_id": attachment.pk})
    download = logged_in_client(nurse).get(url)
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content) == PDF
    assert AuditEvent.objects.filter(
        action=AuditAction.EXPORT, actor=nurse, object_type__iexact="messaging.Attachment"
    ).exists()
    assert logged_in_client(other_patient_user).get(url).status_code == 404


def test_a_file_that_is_not_pdf_jpeg_png_is_refused_on_the_form(patient_user):
    client = logged_in_client(patient_user)
    upload = SimpleUploadedFile(
        "invoice.pdf", b"<html><script>x</script></html>", content_type="application/pdf"
    )
    response = client.post(
        reverse("messaging:compose"),
        {"category": "clinical", "subject": "Labs", "body": "See file", "file": upload},
    )
    assert response.status_code == 400
    assert "Only PDF, JPEG and PNG" in response.content.decode()
    assert not Thread.objects.exists()


def test_a_2_mib_attachment_passes_the_body_limit_on_messaging_routes(
    patient_user, clinical_thread
):
    """The 1 MiB request limit (issue 11) keeps for every other route; a messaging upload may
    carry its 10 MB file."""
    big = PDF + b"0" * (2 * 1024 * 1024)
    client = logged_in_client(patient_user)
    response = client.post(
        _thread_url(clinical_thread),
        {"body": "big scan", "file": SimpleUploadedFile("scan.pdf", big)},
    )
    assert response.status_code == 302
    assert Attachment.objects.get().size_bytes == len(big)
    other = client.post(
        reverse("messaging:compose").replace("messages/new/", "patients/new/"),
        {"file": SimpleUploadedFile("scan.pdf", big)},
    )
    assert other.status_code == 413


def test_staff_files_a_thread_to_the_chart_and_the_chart_lists_it(nurse, clinical_thread, patient):
    client = logged_in_client(nurse)
    response = client.post(
        reverse("messaging:thread_file", kwargs={"thread_id": clinical_thread.pk})
    )
    assert response.status_code == 302
    filing = ThreadFiling.objects.get()
    chart = client.get(
        reverse("patients:chart", kwargs={"patient_id": patient.pk})
    ).content.decode()
    assert reverse("messaging:filing", kwargs={"filing_id": filing.pk}) in chart
    pdf = client.get(reverse("messaging:filing", kwargs={"filing_id": filing.pk}))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"].startswith("attachment")


def test_patient_home_shows_unread_message_and_messages_panel(patient_user, nurse, clinical_thread):
    """Issue 18 §1/§3: the patient's home lists an unread message under "needs you now" and has
    a messages panel."""
    services.message_send(actor=nurse, thread=clinical_thread, body="Answer")
    client = logged_in_client(patient_user)
    home = client.get(reverse("portal:home")).content.decode()
    assert "1 unread message from your care team" in home
    assert 'id="home-messages-panel"' in home
    assert clinical_thread.subject in home
    client.get(_thread_url(clinical_thread))  # reading it clears the mark
    home = client.get(reverse("portal:home")).content.decode()
    assert "unread message" not in home


def test_staff_see_no_portal_panel_on_the_chart(nurse, clinical_thread, patient):
    chart = (
        logged_in_client(nurse)
        .get(reverse("patients:chart", kwargs={"patient_id": patient.pk}))
        .content.decode()
    )
    assert 'id="home-messages-panel"' not in chart
    assert "needs-you-now" not in chart


def test_status_and_assignee_form(nurse, clinical_thread):
    client = logged_in_client(nurse)
    client.post(
        reverse("messaging:thread_update", kwargs={"thread_id": clinical_thread.pk}),
        {"status": "in_progress", "assignee": nurse.pk},
    )
    clinical_thread.refresh_from_db()
    assert (clinical_thread.status, clinical_thread.assignee_id) == ("in_progress", nurse.pk)


def test_the_patients_message_list_is_paged(patient_user):
    """A page of 20 conversations, newest first, with a link to older ones (the list stays
    fast however many threads a patient has: bench/README.md)."""
    for n in range(22):
        services.thread_create(actor=patient_user, category="clinical", subject=f"Q{n}", body="x")
    client = logged_in_client(patient_user)
    first = client.get(reverse("messaging:my_threads")).content.decode()
    assert "Q21" in first
    assert ">Q1<" not in first
    assert "?offset=20" in first
    older = client.get(reverse("messaging:my_threads") + "?offset=20").content.decode()
    assert ">Q1<" in older
    assert ">Q0<" in older
    assert "Newer conversations" in older
