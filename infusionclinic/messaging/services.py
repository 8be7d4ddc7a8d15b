"""Writes of messaging (issue 18 section 3). Each takes `actor=`, checks the actor may see the
thread (the selectors' one rule), and writes its audit event in the same transaction. Mail goes
out through the task queue after commit and says only that a new message is waiting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import STAFF_ROLES, Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.mail import email_enqueue
from infusionclinic.patients.models import Patient

from .attachments import attachment_check
from .crisis import crisis_phrases_found
from .models import (
    Attachment,
    Message,
    Thread,
    ThreadCategory,
    ThreadFiling,
    ThreadRead,
    ThreadStatus,
)
from .selectors import assignees_for, categories_for, thread_get_for_user

SUBJECT_MAX = 120
BODY_MAX = 5000
ATTACHMENTS_PER_MESSAGE = 5


@dataclass(frozen=True)
class Sent:
    message: Message
    thread: Thread
    crisis: bool = False  # the patient's message matched a crisis phrase: show the resources
    attachments: list[Attachment] = field(default_factory=list)


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": ["Write a message."]})
    if len(body) > BODY_MAX:
        raise ValidationError({"body": [f"At most {BODY_MAX} characters."]})
    return body


def _site_url(path: str) -> str:
    return settings.SCHEDULING_SITE_URL.rstrip("/") + path


def notification_mail_to_patient(thread: Thread) -> tuple[str, str]:
    """(subject, body): that a message is waiting, the clinic's name and the portal link only —
    no health words, no content, no category (issue 18 section 3)."""
    clinic = thread.location.clinic.name
    body = "\n".join(
        [
            f"You have a new message from {clinic}.",
            "",
            "Log in to the patient portal to read it:",
            _site_url(reverse("messaging:my_threads")),
        ]
    )
    return f"New message from {clinic}", body


def notification_mail_to_team(thread: Thread) -> tuple[str, str]:
    """(subject, body) for the location's team: a message is waiting in the inbox, no patient
    name, no content."""
    body = "\n".join(
        [
            f"A new message is waiting in the {thread.location.name} inbox.",
            "",
            "Log in to read it:",
            _site_url(reverse("messaging:inbox", kwargs={"location_id": thread.location_id})),
        ]
    )
    return f"New message waiting - {thread.location.name}", body


def _notify_patient(thread: Thread) -> None:
    patient = thread.patient
    if not patient.email:
        return
    subject, body = notification_mail_to_patient(thread)
    to = [patient.email]
    transaction.on_commit(lambda: email_enqueue(subject=subject, body=body, to=to))


def _notify_team(thread: Thread) -> None:
    to = sorted({u.email for u in assignees_for(thread=thread) if u.email})
    if not to:
        return
    subject, body = notification_mail_to_team(thread)
    transaction.on_commit(lambda: email_enqueue(subject=subject, body=body, to=to))


def _own_patient(actor: User) -> Patient:
    patient = getattr(actor, "patient", None) if actor.role == Role.PATIENT else None
    if patient is None or not actor.has_role_perm(Perm.MESSAGE_OWN):
        raise PermissionDenied("Only a patient with a portal log-in starts a thread.")
    return patient


def _attach(
    *, actor: User, thread: Thread, message: Message, attachment_ids: Sequence[int]
) -> list[Attachment]:
    ids = list(dict.fromkeys(int(i) for i in attachment_ids))
    if len(ids) > ATTACHMENTS_PER_MESSAGE:
        raise ValidationError(
            {"attachment_ids": [f"At most {ATTACHMENTS_PER_MESSAGE} attachments a message."]}
        )
    if not ids:
        return []
    pending = list(
        Attachment.objects.select_for_update().filter(
            pk__in=ids, thread=thread, uploaded_by=actor, message__isnull=True
        )
    )
    if len(pending) != len(ids):
        raise ValidationError(
            {"attachment_ids": ["Attach only files you uploaded to this thread and not yet sent."]}
        )
    Attachment.objects.filter(pk__in=ids).update(message=message)
    for a in pending:
        a.message = message
    return pending


def _upload(
    *, actor: User, thread: Thread, file: IO[bytes], name: str, size: int | None
) -> Attachment:
    checked = attachment_check(file=file, name=name, size=size)
    attachment = Attachment(
        thread=thread,
        uploaded_by=actor,
        original_name=checked.original_name,
        content_type=checked.content_type,
        size_bytes=checked.size_bytes,
        sha256=checked.sha256,
        created_at=timezone.now(),
    )
    # Through the storage API (FILE_STORAGE_BACKEND / MEDIA_ROOT), never under the static root.
    attachment.file.save(checked.stored_name, File(file), save=False)
    attachment.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=thread.patient,
        obj=attachment,
        detail={
            "thread": thread.pk,
            "content_type": checked.content_type,
            "size_bytes": checked.size_bytes,
            "sha256": checked.sha256,
        },
    )
    return attachment


def attachment_upload(
    *, actor: User, thread: Thread, file: IO[bytes], name: str, size: int | None = None
) -> Attachment:
    """A file uploaded on a thread, pending until a message of the same user sends it."""
    thread = thread_get_for_user(user=actor, thread_id=thread.pk)
    if thread.status == ThreadStatus.CLOSED and actor.role == Role.PATIENT:
        raise ValidationError({"__all__": ["This conversation is closed: start a new one."]})
    with transaction.atomic():
        return _upload(actor=actor, thread=thread, file=file, name=name, size=size)


def thread_create(
    *,
    actor: User,
    category: str,
    subject: str,
    body: str,
    files: Sequence[tuple[IO[bytes], str, int | None]] = (),
) -> Sent:
    """A patient opens a thread with their home location's care team."""
    patient = _own_patient(actor)
    errors: dict[str, list[str]] = {}
    if category not in ThreadCategory.values:
        errors["category"] = ["Choose “Appointments & billing” or “Clinical question”."]
    subject = (subject or "").strip()
    if not subject:
        errors["subject"] = ["Give the message a subject."]
    elif len(subject) > SUBJECT_MAX:
        errors["subject"] = [f"At most {SUBJECT_MAX} characters."]
    try:
        body = _clean_body(body)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        thread = Thread.objects.create(
            patient=patient,
            location=patient.home_location,
            category=category,
            subject=subject,
            status=ThreadStatus.NEW,
            created_by=actor,
            created_at=now,
            last_message_at=now,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient=patient,
            obj=thread,
            detail={"category": category, "location": patient.home_location.code},
        )
        uploaded = [
            _upload(actor=actor, thread=thread, file=f, name=n, size=s) for f, n, s in files
        ]
        thread = Thread.objects.select_related("patient", "location__clinic").get(pk=thread.pk)
        return _message_add(
            actor=actor,
            thread=thread,
            body=body,
            attachment_ids=[a.pk for a in uploaded],
            crisis_text=f"{subject}\n{body}",
        )


def message_send(
    *,
    actor: User,
    thread: Thread,
    body: str,
    attachment_ids: Sequence[int] = (),
    files: Sequence[tuple[IO[bytes], str, int | None]] = (),
    status: str = "",
) -> Sent:
    """A message on a thread the actor may see: the patient's own, or staff's of their location
    and category. `status` (staff only) sets the thread's status with the answer; by default a
    staff answer leaves it "waiting on patient"."""
    thread = thread_get_for_user(user=actor, thread_id=thread.pk)
    body = _clean_body(body)
    if actor.role == Role.PATIENT and thread.status == ThreadStatus.CLOSED:
        raise ValidationError({"__all__": ["This conversation is closed: start a new one."]})
    if status and (actor.role not in STAFF_ROLES or status not in ThreadStatus.values):
        raise ValidationError({"status": ["Choose a listed status."]})
    with transaction.atomic():
        uploaded = [
            _upload(actor=actor, thread=thread, file=f, name=n, size=s) for f, n, s in files
        ]
        return _message_add(
            actor=actor,
            thread=thread,
            body=body,
            attachment_ids=[*attachment_ids, *(a.pk for a in uploaded)],
            status=status,
            crisis_text=body,
        )


def _message_add(
    *,
    actor: User,
    thread: Thread,
    body: str,
    attachment_ids: Sequence[int],
    crisis_text: str,
    status: str = "",
) -> Sent:
    locked = Thread.objects.select_for_update().get(pk=thread.pk)
    now = timezone.now()
    from_patient = actor.role == Role.PATIENT
    found = crisis_phrases_found(crisis_text) if from_patient else []
    message = Message.objects.create(
        thread=locked,
        author=actor,
        from_patient=from_patient,
        body=body,
        crisis_phrases=found,
        created_at=now,
    )
    attached = _attach(actor=actor, thread=locked, message=message, attachment_ids=attachment_ids)
    changed = ["last_message_at", "message_count"]
    locked.last_message_at = now
    locked.message_count += 1
    previous_status = locked.status
    if from_patient:
        locked.last_patient_message_at = now
        if locked.awaiting_staff_since is None:
            locked.awaiting_staff_since = now
        if locked.status == ThreadStatus.WAITING_ON_PATIENT:
            locked.status = ThreadStatus.IN_PROGRESS
        changed += ["last_patient_message_at", "awaiting_staff_since", "status"]
        if found and not locked.urgent:
            locked.urgent = True
            changed.append("urgent")
    else:
        locked.last_staff_message_at = now
        locked.awaiting_staff_since = None
        locked.status = status or ThreadStatus.WAITING_ON_PATIENT
        changed += ["last_staff_message_at", "awaiting_staff_since", "status"]
        if locked.assignee_id is None:
            locked.assignee = actor
            changed.append("assignee")
    locked.save(update_fields=changed)
    # The writer has read everything up to their own message.
    ThreadRead.objects.update_or_create(thread=locked, user=actor, defaults={"read_at": now})
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient=locked.patient,
        obj=message,
        detail={
            "thread": locked.pk,
            "from_patient": from_patient,
            "attachments": [a.pk for a in attached],
            "crisis_phrases_matched": len(found),
            "status": [previous_status, locked.status],
        },
    )
    if found:
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient=locked.patient,
            obj=locked,
            detail={"urgent": True, "reason": "crisis phrases in a patient message"},
        )
    thread = Thread.objects.select_related("patient", "location__clinic", "assignee").get(
        pk=locked.pk
    )
    if from_patient:
        _notify_team(thread)
    else:
        _notify_patient(thread)
    return Sent(message=message, thread=thread, crisis=bool(found), attachments=attached)


def thread_update(
    *, actor: User, thread: Thread, status: str | None = None, assignee_id: int | None = None
) -> Thread:
    """Staff set the status and the assignee (a staff member of the location whose role reads
    this category; 0 or None leaves it, -1 clears it)."""
    thread = thread_get_for_user(user=actor, thread_id=thread.pk)
    if actor.role not in STAFF_ROLES:
        raise PermissionDenied("Only the care team changes a thread's status.")
    errors: dict[str, list[str]] = {}
    if status is not None and status not in ThreadStatus.values:
        errors["status"] = ["Choose a listed status."]
    assignee: User | None = thread.assignee
    if assignee_id == -1:
        assignee = None
    elif assignee_id:
        assignee = next((u for u in assignees_for(thread=thread) if u.pk == assignee_id), None)
        if assignee is None:
            errors["assignee"] = ["Choose someone of this location's team who reads these threads."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Thread.objects.select_for_update().get(pk=thread.pk)
        before = {"status": locked.status, "assignee": locked.assignee_id}
        if status is not None:
            locked.status = status
        locked.assignee = assignee
        locked.save(update_fields=["status", "assignee"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient=locked.patient,
            obj=locked,
            detail={
                "before": before,
                "after": {"status": locked.status, "assignee": locked.assignee_id},
            },
        )
    return thread_get_for_user(user=actor, thread_id=thread.pk)


def thread_mark_read(*, actor: User, thread: Thread, page: str = "thread") -> None:
    """Reading a thread: the read mark moves to now and a `view` event is written."""
    with transaction.atomic():
        ThreadRead.objects.update_or_create(
            thread=thread, user=actor, defaults={"read_at": timezone.now()}
        )
        audit_record(
            actor=actor,
            action=AuditAction.VIEW,
            patient=thread.patient,
            obj=thread,
            detail={"page": page, "messages": thread.message_count},
        )


def attachment_download_record(*, actor: User, attachment: Attachment) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.EXPORT,
        patient=attachment.thread.patient,
        obj=attachment,
        detail={"thread": attachment.thread_id, "sha256": attachment.sha256},
    )


def thread_file_to_chart(*, actor: User, thread: Thread) -> ThreadFiling:
    """File the thread to the chart: a PDF transcript as it stands now, listed with the patient's
    documents (a later message needs filing again). Nurses and prescribers, and front desk for
    administrative threads: whoever may read the thread on the care team's side."""
    from django.core.files.base import ContentFile

    from .pdf import thread_pdf

    thread = thread_get_for_user(user=actor, thread_id=thread.pk)
    if actor.role not in STAFF_ROLES or thread.category not in categories_for(actor):
        raise PermissionDenied("Only the care team files a thread to the chart.")
    with transaction.atomic():
        messages = list(
            Message.objects.filter(thread=thread)
            .select_related("author")
            .prefetch_related("attachments")
            .order_by("created_at", "pk")
        )
        now = timezone.now()
        filing = ThreadFiling(
            thread=thread,
            patient=thread.patient,
            filed_by=actor,
            filed_at=now,
            message_count=len(messages),
        )
        content = thread_pdf(thread=thread, messages=messages, filed_by=actor, filed_at=now)
        filing.pdf.save(
            f"thread-{thread.pk}-{now:%Y%m%d%H%M%S}.pdf", ContentFile(content), save=False
        )
        filing.save()
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient=thread.patient,
            obj=filing,
            detail={"thread": thread.pk, "messages": len(messages), "filed_to_chart": True},
        )
    return filing
