"""`{% messaging_chart_links %}`: the chart's "Messages" panel for staff — the patient's threads
this user may read and the threads filed to the chart (issue 18 section 3)."""

from __future__ import annotations

from typing import Any

from django import template

from infusionclinic.accounts.roles import STAFF_ROLES

from ..models import ThreadFiling
from ..selectors import threads_visible_to

register = template.Library()


@register.inclusion_tag("messaging/includes/_chart_links_body.html", takes_context=True)
def messaging_chart_links(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    patient = context.get("patient")
    user = getattr(request, "user", None)
    if user is None or patient is None or user.role not in STAFF_ROLES:
        return {"show": False}
    threads = threads_visible_to(user=user).filter(patient=patient)
    filings = list(
        ThreadFiling.objects.filter(thread__in=threads)
        .select_related("thread")
        .order_by("-filed_at")[:20]
    )
    return {
        "show": bool(filings) or threads.exists(),
        "filings": filings,
        "threads": list(threads.order_by("-last_message_at")[:5]),
    }
