"""API for secure messaging (issue 18 section 4), so a mobile app can be built on it: threads
(list, create, read, status/assignee), messages (list, send), attachments (upload, download) and
read marks under /api/v1/messages/. The same selectors and services as the pages: a thread the
caller may not see answers 404 and writes a `denied` event; every read and write is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from ninja import File, Query, Router, Schema, Status, UploadedFile
from pydantic import ConfigDict, Field

from infusionclinic.accounts.roles import STAFF_ROLES, Role
from infusionclinic.api.fields import EdgeInt, Id
from infusionclinic.api.schemas import ErrorOut
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record

from . import selectors, services
from .models import Attachment, Message, Thread, ThreadCategory, ThreadStatus

router = Router(tags=["messages"])
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 413: ErrorOut, 422: ErrorOut}


class ThreadOut(Schema):
    id: int
    patient_id: int
    location_id: int
    category: str = Field(description="administrative (appointments & billing) or clinical")
    subject: str
    status: str
    assignee_id: int | None
    urgent: bool
    created_at: datetime
    last_message_at: datetime
    message_count: int
    unread: bool
    answer_due_at: datetime | None = Field(
        None, description="staff: when the unanswered patient message passes one business day"
    )


class AttachmentOut(Schema):
    id: int
    thread_id: int
    message_id: int | None
    name: str
    content_type: str
    size_bytes: int
    sha256: str
    download_url: str


class MessageOut(Schema):
    id: int
    thread_id: int
    from_patient: bool
    author: str
    body: str
    created_at: datetime
    attachments: list[AttachmentOut]


class CrisisOut(Schema):
    crisis_line: str
    emergency: str
    clinic_name: str
    clinic_phone: str


class SentOut(Schema):
    thread: ThreadOut
    message: MessageOut
    crisis: CrisisOut | None = Field(
        None, description="the message had crisis words: show these resources to the patient now"
    )
    notice: str = Field(description="messages are not for emergencies")


class ThreadIn(Schema):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(max_length=20, description="administrative or clinical")
    subject: str = Field(max_length=services.SUBJECT_MAX)
    body: str = Field(max_length=services.BODY_MAX)


class MessageIn(Schema):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(max_length=services.BODY_MAX)
    attachment_ids: list[Id] = Field(
        default_factory=list, max_length=services.ATTACHMENTS_PER_MESSAGE
    )
    status: str = Field("", max_length=20, description="staff: the thread's status after this")


class ThreadPatch(Schema):
    model_config = ConfigDict(extra="forbid")
    status: str | None = Field(None, max_length=20)
    assignee_id: EdgeInt | None = Field(None, description="a staff user id; -1 clears it")


class ThreadFilter(Schema):
    location_id: Id | None = None
    status: str = Field("", max_length=20)
    category: str = Field("", max_length=20)
    limit: int = Field(selectors.PATIENT_PAGE, ge=1, le=100, description="patients: page size")
    offset: int = Field(0, ge=0, le=1_000_000, description="patients: threads to skip")


class ReadOut(Schema):
    thread_id: int
    read_at: datetime
    unread: bool


NOTICE = "Messages are not for emergencies: call or text 988 (Suicide & Crisis Lifeline), or 911."


def _thread_out(thread: Thread, *, unread: bool | None = None, user: Any = None) -> dict[str, Any]:
    due = None
    if user is not None and user.role in STAFF_ROLES and thread.awaiting_staff_since:
        due = selectors.staff_inbox_row_due(thread=thread)
    return {
        "id": thread.pk,
        "patient_id": thread.patient_id,
        "location_id": thread.location_id,
        "category": thread.category,
        "subject": thread.subject,
        "status": thread.status,
        "assignee_id": thread.assignee_id,
        "urgent": thread.urgent,
        "created_at": thread.created_at,
        "last_message_at": thread.last_message_at,
        "message_count": thread.message_count,
        "unread": bool(getattr(thread, "unread", False)) if unread is None else unread,
        "answer_due_at": due,
    }


def _attachment_out(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "thread_id": a.thread_id,
        "message_id": a.message_id,
        "name": a.original_name,
        "content_type": a.content_type,
        "size_bytes": a.size_bytes,
        "sha256": a.sha256,
        "download_url": f"/api/v1/messages/attachments/{a.pk}",
    }


def _message_out(m: Message) -> dict[str, Any]:
    return {
        "id": m.pk,
        "thread_id": m.thread_id,
        "from_patient": m.from_patient,
        "author": "patient" if m.from_patient else (m.author.full_name or "Care team"),
        "body": m.body,
        "created_at": m.created_at,
        "attachments": [_attachment_out(a) for a in m.attachments.all()],
    }


def _sent_out(request: HttpRequest, sent: services.Sent) -> dict[str, Any]:
    location = sent.thread.location
    message = (
        Message.objects.select_related("author")
        .prefetch_related("attachments")
        .get(pk=sent.message.pk)
    )
    return {
        "thread": _thread_out(sent.thread, unread=False, user=request.user),
        "message": _message_out(message),
        "crisis": {
            "crisis_line": settings.OUTCOMES_CRISIS_LINE,
            "emergency": (
                "If you are in immediate danger, call 911 or go to the nearest emergency "
                "department."
            ),
            "clinic_name": location.name,
            "clinic_phone": location.phone,
        }
        if sent.crisis
        else None,
        "notice": NOTICE,
    }


@router.get("/messages/threads", response={200: list[ThreadOut], **ERRORS})
def threads_list(request: HttpRequest, filters: Query[ThreadFilter]) -> Any:
    """The caller's threads: a patient's own; staff's of their locations and categories (open
    ones unless `status` asks otherwise), the inbox's order."""
    user = request.user
    if user.role == Role.PATIENT:
        portal = selectors.patient_threads(user=user, limit=filters.limit, offset=filters.offset)
        threads = portal.threads
        patient = getattr(user, "patient", None)
        audit_record(
            actor=user,
            action=AuditAction.VIEW,
            patient=patient,
            detail={"api": "message threads", "threads": [t.pk for t in threads]},
        )
        return [_thread_out(t) for t in threads]
    if user.role not in STAFF_ROLES or not selectors.categories_for(user):
        raise PermissionDenied("Your role reads no messages.")
    location = (
        selectors.inbox_location_get(user=user, location_id=filters.location_id)
        if filters.location_id is not None
        else selectors.inbox_locations(user=user).first()
    )
    if location is None:
        return []
    box = selectors.staff_inbox(
        user=user, location=location, status=filters.status, category=filters.category
    )
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        detail={
            "api": "message inbox",
            "location": location.code,
            "patient_ids": sorted({row.thread.patient_id for row in box.rows}),
        },
    )
    out = []
    for row in box.rows:
        item = _thread_out(row.thread, unread=row.unread)
        item["answer_due_at"] = row.answer_due_at
        out.append(item)
    return out


@router.post("/messages/threads", response={201: SentOut, **ERRORS})
def threads_create(request: HttpRequest, payload: ThreadIn) -> Any:
    """A patient opens a thread with their location's care team (then uploads attachments and
    sends them with a message)."""
    sent = services.thread_create(
        actor=request.user, category=payload.category, subject=payload.subject, body=payload.body
    )
    return Status(201, _sent_out(request, sent))


@router.get("/messages/threads/{thread_id}", response={200: ThreadOut, **ERRORS})
def thread_get(request: HttpRequest, thread_id: str) -> Any:
    thread = selectors.thread_get_for_user(user=request.user, thread_id=thread_id)
    unread = selectors.thread_is_unread(user=request.user, thread=thread)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=thread.patient,
        obj=thread,
        detail={"api": "thread"},
    )
    return _thread_out(thread, unread=unread, user=request.user)


@router.patch("/messages/threads/{thread_id}", response={200: ThreadOut, **ERRORS})
def thread_patch(request: HttpRequest, thread_id: str, payload: ThreadPatch) -> Any:
    """Staff: the thread's status and assignee."""
    thread = selectors.thread_get_for_user(user=request.user, thread_id=thread_id)
    thread = services.thread_update(
        actor=request.user, thread=thread, status=payload.status, assignee_id=payload.assignee_id
    )
    return _thread_out(thread, unread=False, user=request.user)


@router.get("/messages/threads/{thread_id}/messages", response={200: list[MessageOut], **ERRORS})
def messages_list(request: HttpRequest, thread_id: str) -> Any:
    """The thread's messages, oldest first. Reading them does not move the read mark: POST
    .../read does."""
    thread = selectors.thread_get_for_user(user=request.user, thread_id=thread_id)
    rows = selectors.thread_messages(thread=thread)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=thread.patient,
        obj=thread,
        detail={"api": "messages", "messages": len(rows)},
    )
    return [_message_out(m) for m in rows]


@router.post("/messages/threads/{thread_id}/messages", response={201: SentOut, **ERRORS})
def messages_create(request: HttpRequest, thread_id: str, payload: MessageIn) -> Any:
    thread = selectors.thread_get_for_user(user=request.user, thread_id=thread_id)
    sent = services.message_send(
        actor=request.user,
        thread=thread,
        body=payload.body,
        attachment_ids=payload.attachment_ids,
        status=payload.status,
    )
    return Status(201, _sent_out(request, sent))


@router.post("/messages/threads/{thread_id}/attachments", response={201: AttachmentOut, **ERRORS})
def attachments_upload(request: HttpRequest, thread_id: str, file: File[UploadedFile]) -> Any:
    """Upload a PDF, JPEG or PNG (up to 10 MB; the type is read from the content) as multipart
    field `file`; send it with `attachment_ids` of the next message."""
    thread = selectors.thread_get_for_user(user=request.user, thread_id=thread_id)
    attachment = services.attachment_upload(
        actor=request.user, thread=thread, file=file, name=file.name or "", size=file.size
    )
    return Status(201, _attachment_out(attachment))


@router.get(
    "/messages/attachments/{attachment_id}",
    response={200: None, **ERRORS},
    openapi_extra={
        "responses": {
            "200": {
                "description": "The file (Content-Disposition: attachment; nosniff)",
                "content": {t: {} for t in ("application/pdf", "image/jpeg", "image/png")},
            }
        }
    },
)
def attachment_download(request: HttpRequest, attachment_id: str) -> HttpResponse:
    from .views import stored_file_response

    attachment = selectors.attachment_get_for_user(user=request.user, attachment_id=attachment_id)
    services.attachment_download_record(actor=request.user, attachment=attachment)
    return stored_file_response(
        attachment.file, filename=attachment.original_name, content_type=attachment.content_type
    )


@router.post("/messages/threads/{thread_id}/read", response={200: ReadOut, **ERRORS})
def thread_read(request: HttpRequest, thread_id: str) -> Any:
    """Mark the thread read up to now (the read mark)."""
    thread = selectors.thread_get_for_user(user=request.user, thread_id=thread_id)
    services.thread_mark_read(actor=request.user, thread=thread, page="api read mark")
    mark = thread.reads.get(user=request.user)
    return {"thread_id": thread.pk, "read_at": mark.read_at, "unread": False}


__all__ = ["router", "ThreadCategory", "ThreadStatus"]
