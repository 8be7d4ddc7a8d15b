"""Secure messages as FHIR R4 `Communication` resources (issue 18 section 3): one per message,
in the patient's Bundle, `$everything`, read and search at `/fhir/Communication` and the bulk
export, through the registry in `fhir/resources.py`, which narrows the rows to the threads the
reader may open (`communications_visible_to`: the messaging access rule, on top of the chart's).
Validated with fhir.resources (R4B) like every other resource."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from infusionclinic.fhir.mapping import patient_reference
from infusionclinic.patients.models import Patient

from .models import Message, ThreadCategory
from .selectors import threads_visible_to

MESSAGE_CATEGORY = "https://infusionclinic.example/fhir/CodeSystem/message-category"


def communications_for(patients: QuerySet[Patient]) -> QuerySet[Message]:
    return (
        Message.objects.filter(thread__patient__in=patients)
        .select_related("thread", "author")
        .prefetch_related("attachments")
        .order_by("pk")
    )


def communications_visible_to(messages: QuerySet[Message], user: Any) -> QuerySet[Message]:
    return messages.filter(thread__in=threads_visible_to(user=user))


def communication_resource(message: Message) -> dict[str, Any]:
    thread = message.thread
    patient = patient_reference(thread.patient_id)
    team = {"display": f"Care team, location {thread.location_id}"}
    staff = {"display": message.author.full_name or "Care team"}
    payload: list[dict[str, Any]] = [{"contentString": message.body}]
    for a in message.attachments.all():
        payload.append(
            {
                "contentAttachment": {
                    "contentType": a.content_type,
                    "title": a.original_name,
                    "size": a.size_bytes,
                    "url": f"/api/v1/messages/attachments/{a.pk}",
                    "creation": a.created_at.isoformat(),
                }
            }
        )
    return {
        "resourceType": "Communication",
        "id": str(message.pk),
        "meta": {"lastUpdated": message.created_at.isoformat()},
        "identifier": [{"system": "urn:infusionclinic:message-thread", "value": str(thread.pk)}],
        "status": "completed",
        "category": [
            {
                "coding": [
                    {
                        "system": MESSAGE_CATEGORY,
                        "code": thread.category,
                        "display": ThreadCategory(thread.category).label,
                    }
                ],
                "text": ThreadCategory(thread.category).label,
            }
        ],
        "priority": "urgent" if thread.urgent else "routine",
        "subject": patient,
        "topic": {"text": thread.subject},
        "sent": message.created_at.isoformat(),
        "sender": patient if message.from_patient else staff,
        "recipient": [team if message.from_patient else patient],
        "payload": payload,
    }
