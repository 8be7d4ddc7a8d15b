from typing import Any

from django.http import HttpRequest

from .middleware import two_factor_required
from .roles import Perm


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if two_factor_required() and user.is_clinic_staff and not user.is_verified():
        return {}  # nothing to navigate to until the second factor is done
    return {
        "nav_can_search": user.has_role_perm(Perm.PATIENT_SEARCH),
        "nav_can_create_patient": user.has_role_perm(Perm.PATIENT_CREATE),
        "nav_can_audit": user.has_role_perm(Perm.AUDIT_REPORT),
        "nav_can_analytics": user.has_role_perm(Perm.ANALYTICS_VIEW),
        "nav_can_break_glass": user.has_role_perm(Perm.EMERGENCY_ACCESS),
        "nav_is_patient": user.role == "patient",
        "nav_can_ack_alerts": user.has_role_perm(Perm.SAFETY_ALERT_ACK),
        "nav_can_view_outcomes": user.has_role_perm(Perm.OUTCOMES_VIEW),
        "nav_can_leads": user.has_role_perm(Perm.LEADS_MANAGE),
        "nav_can_site_edit": user.has_role_perm(Perm.SITE_EDIT),
        "nav_can_newsletter": user.has_role_perm(Perm.NEWSLETTER_MANAGE),
        "nav_can_referrals": user.has_role_perm(Perm.REFERRAL_MANAGE),
        "nav_can_schedule": user.has_role_perm(Perm.APPOINTMENT_BOOK),
        "nav_can_controlled": user.has_role_perm(Perm.CS_VIEW),
        "nav_can_run_sessions": user.has_role_perm(Perm.SESSION_RUN),
        "nav_can_messages": user.has_role_perm(Perm.MESSAGE_OWN)
        or user.has_role_perm(Perm.MESSAGE_ADMINISTRATIVE),
    }
