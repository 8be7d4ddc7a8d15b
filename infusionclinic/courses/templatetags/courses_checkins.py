"""`{% checkin_flags %}`: the prescriber's home panel of check-in flags (issue 18 section 2), so the
accounts home page includes one partial and the flags stay in the courses app."""

from typing import Any

from django import template

from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record

from ..checkins import checkin_flags_for_user

register = template.Library()


@register.inclusion_tag("courses/includes/_checkin_flags_panel.html", takes_context=True)
def checkin_flags(context: template.Context) -> dict[str, Any]:
    user = context["request"].user
    flags = checkin_flags_for_user(user=user)
    if flags:
        # Names on a list are a read of those charts.
        audit_record(
            actor=user,
            action=AuditAction.VIEW,
            detail={
                "page": "check-in flags",
                "patient_ids": sorted({f.course.patient_id for f in flags}),
            },
        )
    return {"flags": flags}
