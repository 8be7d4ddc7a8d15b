"""`{% portal_messages_panel %}`: the patient home's messages panel (issue 18 sections 1 and 3),
so the portal home includes one partial and the reads stay in the messaging app (the unread count
in "what needs you now" is `selectors.patient_unread_count`, read by portal.selectors). Nothing
for staff: their messages are in the inbox."""

from __future__ import annotations

from typing import Any

from django import template

from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record

from ..selectors import PORTAL_PANEL_THREADS, PortalMessages, patient_threads

register = template.Library()
_CACHE_KEY = "_messaging_portal_home"


def _portal(context: template.Context) -> PortalMessages | None:
    """Read once per page and audit once."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.role != Role.PATIENT:
        return None
    if not user.has_role_perm(Perm.MESSAGE_OWN):
        return None
    cached = getattr(request, _CACHE_KEY, None)
    if cached is None:
        cached = patient_threads(user=user, limit=PORTAL_PANEL_THREADS)
        setattr(request, _CACHE_KEY, cached)
        patient = getattr(user, "patient", None)
        if cached.threads and patient is not None:
            audit_record(
                actor=user,
                action=AuditAction.VIEW,
                patient=patient,
                detail={"page": "home: messages", "threads": [t.pk for t in cached.threads]},
            )
    return cached


@register.inclusion_tag("messaging/includes/_portal_panel_body.html", takes_context=True)
def portal_messages_panel(context: template.Context) -> dict[str, Any]:
    return {"portal": _portal(context)}
