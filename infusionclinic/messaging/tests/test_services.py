"""Messaging rules (issue 18 section 3): who sees which thread, crisis words, attachments sniffed
from their content, notification mail without health words, and the audit of every write."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import override_settings

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.messaging import selectors, services
from infusionclinic.messaging.attachments import attachment_check, sniff
from infusionclinic.messaging.business_days import answer_due_at, is_overdue
from infusionclinic.messaging.crisis import crisis_phrases_found
from infusionclinic.messaging.models import Attachment, ThreadStatus

from .conftest import JPEG, PDF, PNG

pytestmark = pytest.mark.django_db

# Words a notification must never carry (issue 18 section 3: "says only that a new message is
# waiting"): the category, the subject and body used below, clinical words.
HEALTH_WORDS = re.compile(
    r"clinical|question|normal|bill|receipt|ketamine|infusion|depress|dose|crisis|urgent|"
    r"suicid|harm|appointment|patient portal message:",
    re.IGNORECASE,
)


# --- Access: 404 for everyone outside the rule ------------------------------------------------


def test_patient_sees_own_threads_only(clinical_thread, patient_user, other_patient_user):
    """Issue 18 §3: a patient sees only their own threads (404 otherwise, with a denied event)."""
    assert selectors.thread_get_for_user(user=patient_user, thread_id=clinical_thread.pk)
    with pytest.raises(Http404):
        selectors.thread_get_for_user(user=other_patient_user, thread_id=clinical_thread.pk)
    assert AuditEvent.objects.filter(
        action=AuditAction.DENIED, actor=other_patient_user, detail__object_type="messaging.Thread"
    ).exists()


def test_front_desk_reads_administrative_threads_not_clinical(
    clinical_thread, admin_thread, front_desk
):
    """Issue 18 §3: front desk sees only "appointments & billing"; clinical threads are 404."""
    assert selectors.thread_get_for_user(user=front_desk, thread_id=admin_thread.pk)
    with pytest.raises(Http404):
        selectors.thread_get_for_user(user=front_desk, thread_id=clinical_thread.pk)


@pytest.mark.parametrize("role", ["nurse", "prescriber"])
def test_nurses_and_prescribers_read_both_kinds(request, role, clinical_thread, admin_thread):
    user = request.getfixturevalue(role)
    for thread in (clinical_thread, admin_thread):
        assert selectors.thread_get_for_user(user=user, thread_id=thread.pk)


def test_other_location_staff_and_admin_get_404(
    clinical_thread, admin_thread, other_nurse, admin_user
):
    """Staff see only their locations' threads; the admin role reads no messages (minimum
    necessary)."""
    for user in (other_nurse, admin_user):
        for thread in (clinical_thread, admin_thread):
            with pytest.raises(Http404):
                selectors.thread_get_for_user(user=user, thread_id=thread.pk)


def test_staff_cannot_start_a_thread(nurse):
    with pytest.raises(PermissionDenied):
        services.thread_create(actor=nurse, category="clinical", subject="x", body="y")


def test_thread_goes_to_the_patients_home_location(clinical_thread, patient):
    assert clinical_thread.location_id == patient.home_location_id
    assert clinical_thread.status == ThreadStatus.NEW


def test_bad_category_subject_and_body_are_field_errors(patient_user):
    with pytest.raises(ValidationError) as exc:
        services.thread_create(actor=patient_user, category="other", subject="", body="  ")
    assert set(exc.value.message_dict) == {"category", "subject", "body"}


# --- Crisis words -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I want to KILL MYSELF",
        "sometimes I think about suicide.",
        "I can’t go on",
        "I’d be better off   dead",
    ],
)
def test_crisis_phrases_match_case_punctuation_and_apostrophes(text):
    assert crisis_phrases_found(text)


@pytest.mark.parametrize(
    "text", ["Can I move my appointment?", "the pharmacy called", "I skilled myself up"]
)
def test_ordinary_messages_match_no_crisis_phrase(text):
    assert crisis_phrases_found(text) == []


def test_crisis_words_flag_the_thread_urgent_and_are_audited(patient_user):
    """Issue 18 §3: a patient message containing crisis words flags the thread urgent (and the
    page shows the crisis resources: test_views)."""
    sent = services.thread_create(
        actor=patient_user, category="administrative", subject="Bill", body="I want to end my life"
    )
    assert sent.crisis is True
    assert sent.thread.urgent is True
    assert sent.message.crisis_phrases == ["end my life"]
    assert AuditEvent.objects.filter(
        action=AuditAction.UPDATE, object_id=str(sent.thread.pk), detail__urgent=True
    ).exists()


def test_staff_words_never_flag_a_thread(clinical_thread, nurse):
    sent = services.message_send(
        actor=nurse, thread=clinical_thread, body="If you ever feel suicidal, call 988."
    )
    assert sent.crisis is False
    clinical_thread.refresh_from_db()
    assert clinical_thread.urgent is False


# --- Attachments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg")],
)
def test_the_type_comes_from_the_content(content, expected):
    """Issue 18 §3: type checked from the content, not the name (a PDF named .png is a PDF)."""
    checked = attachment_check(file=io.BytesIO(content), name="photo.png")
    assert checked.content_type == expected
    assert checked.stored_name.endswith(
        {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}[expected]
    )


@pytest.mark.parametrize(
    "content",
    [b"<html><script>alert(1)</script>", b"GIF89a....", b"PK\x03\x04 zip", b"MZ\x90\x00"],
)
def test_other_content_is_refused_whatever_its_name(content):
    with pytest.raises(ValidationError) as exc:
        attachment_check(file=io.BytesIO(content), name="report.pdf")
    assert "file" in exc.value.message_dict


def test_empty_file_is_refused():
    with pytest.raises(ValidationError):
        attachment_check(file=io.BytesIO(b""), name="x.pdf")


@override_settings(MESSAGING_ATTACHMENT_MAX_BYTES=1024)
def test_a_file_over_the_limit_is_refused_even_if_its_size_is_not_declared():
    with pytest.raises(ValidationError) as exc:
        attachment_check(file=io.BytesIO(PDF + b"0" * 2000), name="x.pdf")
    assert "larger than" in exc.value.messages[0]


def test_the_limit_is_10_mb_by_default(settings):
    """Issue 18 §3: "up to 10 MB"."""
    assert settings.MESSAGING_ATTACHMENT_MAX_BYTES == 10 * 1024 * 1024
    with pytest.raises(ValidationError):
        attachment_check(file=io.BytesIO(PDF), name="x.pdf", size=10 * 1024 * 1024 + 1)


def test_sniff_reads_magic_numbers_only():
    assert sniff(b"%PDF-1.7") == ("application/pdf", "pdf")
    assert sniff(b"%PD") is None


def test_attachment_is_stored_through_storage_outside_static(
    clinical_thread, patient_user, settings
):
    sent = services.message_send(
        actor=patient_user,
        thread=clinical_thread,
        body="My lab results",
        files=[(io.BytesIO(PDF), "../../etc/labs.pdf", len(PDF))],
    )
    attachment = sent.attachments[0]
    assert attachment.original_name == "labs.pdf"
    assert attachment.file.name.startswith("messaging/")
    assert "labs" not in attachment.file.name  # a random stored name
    assert not str(attachment.file.name).startswith(str(settings.STATIC_ROOT))
    assert attachment.file.read() == PDF
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE,
        object_type__iexact="messaging.Attachment",
        object_id=str(attachment.pk),
    ).exists()


def test_a_pending_upload_is_sent_only_by_its_uploader(clinical_thread, patient_user, nurse):
    upload = services.attachment_upload(
        actor=patient_user, thread=clinical_thread, file=io.BytesIO(PNG), name="a.png"
    )
    with pytest.raises(Http404):
        selectors.attachment_get_for_user(user=nurse, attachment_id=upload.pk)
    with pytest.raises(ValidationError):
        services.message_send(
            actor=nurse, thread=clinical_thread, body="x", attachment_ids=[upload.pk]
        )
    services.message_send(
        actor=patient_user, thread=clinical_thread, body="x", attachment_ids=[upload.pk]
    )
    assert Attachment.objects.get(pk=upload.pk).message_id is not None
    assert selectors.attachment_get_for_user(user=nurse, attachment_id=upload.pk)


# --- Notification mail -------------------------------------------------------------------------


def test_patient_message_mails_the_clinical_team_without_content(
    patient_user, nurse, prescriber, front_desk, django_capture_on_commit_callbacks
):
    """Issue 18 §3: notification mail says only that a new message is waiting; a clinical
    thread goes to nurses and prescribers, not front desk; sent through the task queue."""
    with django_capture_on_commit_callbacks(execute=True):
        services.thread_create(
            actor=patient_user, category="clinical", subject="A question", body="Is it normal?"
        )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == sorted([nurse.email, prescriber.email])
    assert "A new message is waiting" in message.body
    text = message.subject + "\n" + message.body
    assert not HEALTH_WORDS.search(text), text
    assert patient_user.patient.family_name not in text


def test_administrative_message_mails_front_desk_too(
    patient_user, nurse, front_desk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.thread_create(
            actor=patient_user, category="administrative", subject="My bill", body="Receipt please"
        )
    assert front_desk.email in mail.outbox[0].to


def test_staff_answer_mails_the_patient_that_a_message_is_waiting(
    clinical_thread, nurse, patient_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.message_send(actor=nurse, thread=clinical_thread, body="Yes, your dose is fine.")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [patient_user.patient.email]
    text = message.subject + "\n" + message.body
    assert "new message" in text
    assert not HEALTH_WORDS.search(text), text


# --- Status, assignee, read marks, filing --------------------------------------------------------


def test_staff_answer_sets_waiting_on_patient_and_assigns_the_answerer(
    clinical_thread, nurse, patient_user
):
    services.message_send(actor=nurse, thread=clinical_thread, body="Answer")
    clinical_thread.refresh_from_db()
    assert clinical_thread.status == ThreadStatus.WAITING_ON_PATIENT
    assert clinical_thread.assignee == nurse
    assert clinical_thread.awaiting_staff_since is None
    services.message_send(actor=patient_user, thread=clinical_thread, body="Thanks, one more thing")
    clinical_thread.refresh_from_db()
    assert clinical_thread.status == ThreadStatus.IN_PROGRESS
    assert clinical_thread.awaiting_staff_since is not None


def test_assignee_must_read_the_category(clinical_thread, nurse, front_desk):
    with pytest.raises(ValidationError):
        services.thread_update(actor=nurse, thread=clinical_thread, assignee_id=front_desk.pk)
    thread = services.thread_update(
        actor=nurse, thread=clinical_thread, status="in_progress", assignee_id=nurse.pk
    )
    assert (thread.status, thread.assignee_id) == ("in_progress", nurse.pk)
    assert AuditEvent.objects.filter(
        action=AuditAction.UPDATE, object_id=str(thread.pk), actor=nurse
    ).exists()


def test_closed_thread_takes_no_patient_message(clinical_thread, nurse, patient_user):
    services.thread_update(actor=nurse, thread=clinical_thread, status="closed")
    with pytest.raises(ValidationError):
        services.message_send(actor=patient_user, thread=clinical_thread, body="hello?")


def test_read_marks(clinical_thread, nurse, patient_user):
    assert selectors.thread_is_unread(user=nurse, thread=clinical_thread)
    services.thread_mark_read(actor=nurse, thread=clinical_thread)
    assert not selectors.thread_is_unread(user=nurse, thread=clinical_thread)
    assert not selectors.thread_is_unread(user=patient_user, thread=clinical_thread)
    services.message_send(actor=nurse, thread=clinical_thread, body="Answer")
    assert selectors.thread_is_unread(user=patient_user, thread=clinical_thread)
    assert selectors.patient_threads(user=patient_user).unread_count == 1
    services.thread_mark_read(actor=patient_user, thread=clinical_thread)
    assert selectors.patient_threads(user=patient_user).unread_count == 0
    assert AuditEvent.objects.filter(
        action=AuditAction.VIEW, actor=patient_user, object_id=str(clinical_thread.pk)
    ).exists()


def test_thread_filed_to_the_chart_as_a_pdf(clinical_thread, nurse, front_desk):
    filing = services.thread_file_to_chart(actor=nurse, thread=clinical_thread)
    assert filing.patient_id == clinical_thread.patient_id
    assert filing.pdf.read().startswith(b"%PDF-")
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type__iexact="messaging.ThreadFiling"
    ).exists()
    with pytest.raises(Http404):
        services.thread_file_to_chart(actor=front_desk, thread=clinical_thread)


# --- One business day -------------------------------------------------------------------------

NY = ZoneInfo("America/New_York")


def test_friday_afternoon_is_due_monday_afternoon():
    since = datetime(2026, 12, 4, 15, 0, tzinfo=NY)  # a Friday
    assert answer_due_at(since, tz=NY) == datetime(2026, 12, 7, 15, 0, tzinfo=NY)


def test_saturday_is_due_tuesday_start():
    since = datetime(2026, 12, 5, 10, 0, tzinfo=NY)
    assert answer_due_at(since, tz=NY) == datetime(2026, 12, 8, 0, 0, tzinfo=NY)


def test_federal_and_location_holidays_are_skipped():
    since = datetime(2026, 12, 24, 9, 0, tzinfo=NY)  # Thursday; Dec 25 is a federal holiday
    assert answer_due_at(since, tz=NY) == datetime(2026, 12, 28, 9, 0, tzinfo=NY)
    closed = {date(2026, 12, 28)}
    assert answer_due_at(since, tz=NY, closed=closed) == datetime(2026, 12, 29, 9, 0, tzinfo=NY)


def test_days_are_the_locations_local_days():
    # 03:00 UTC Tuesday is 22:00 Monday in New York: due Tuesday 22:00 local.
    since = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
    assert answer_due_at(since, tz=NY) == datetime(2026, 12, 8, 22, 0, tzinfo=NY)
    assert not is_overdue(since, now=datetime(2026, 12, 9, 2, 59, tzinfo=UTC), tz=NY)
    assert is_overdue(since, now=datetime(2026, 12, 9, 3, 1, tzinfo=UTC), tz=NY)


def test_inbox_highlights_unanswered_over_one_business_day(
    clinical_thread, admin_thread, nurse, location
):
    type(clinical_thread).objects.filter(pk=clinical_thread.pk).update(
        awaiting_staff_since=datetime(2026, 12, 4, 15, 0, tzinfo=NY)
    )
    type(admin_thread).objects.filter(pk=admin_thread.pk).update(
        awaiting_staff_since=datetime(2026, 12, 7, 9, 0, tzinfo=NY)
    )
    box = selectors.staff_inbox(
        user=nurse, location=location, now=datetime(2026, 12, 7, 16, 0, tzinfo=NY)
    )
    overdue = {row.thread.pk: row.overdue for row in box.rows}
    assert overdue == {clinical_thread.pk: True, admin_thread.pk: False}
    assert box.rows[0].thread.pk == clinical_thread.pk


def test_front_desk_inbox_lists_administrative_threads_only(
    clinical_thread, admin_thread, front_desk, location
):
    box = selectors.staff_inbox(user=front_desk, location=location)
    assert [row.thread.pk for row in box.rows] == [admin_thread.pk]


def test_inbox_lists_waiting_threads_before_answered_ones(
    clinical_thread, admin_thread, nurse, location
):
    """Unanswered patient messages first (on SQLite as on PostgreSQL: answered threads, with no
    waiting time, sort last)."""
    services.message_send(actor=nurse, thread=admin_thread, body="Answered")
    box = selectors.staff_inbox(user=nurse, location=location)
    assert [row.thread.pk for row in box.rows] == [clinical_thread.pk, admin_thread.pk]
