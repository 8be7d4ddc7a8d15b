from typing import Any

from django.http import HttpRequest

from .roles import Perm


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_can_search": user.has_role_perm(Perm.PATIENT_SEARCH),
        "nav_can_create_patient": user.has_role_perm(Perm.PATIENT_CREATE),
        "nav_can_audit": user.has_role_perm(Perm.AUDIT_REPORT),
        "nav_is_patient": user.role == "patient",
        "nav_can_referrals": user.has_role_perm(Perm.REFERRAL_MANAGE),
    }
