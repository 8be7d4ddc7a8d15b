import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record

LAST_SEEN_KEY = "_last_seen"
# The last-seen time is rewritten only when it is at least this old: rewriting it on every
# request saved the session row (BEGIN, UPDATE, COMMIT) on every page view (issue 13 profile).
# A stamp up to this many seconds old can only log a session off that much EARLIER than
# IDLE_TIMEOUT_MINUTES after the last request, never later.
LAST_SEEN_RESOLUTION_SECONDS = 15

# Paths a logged-in staff member may reach before completing two-factor log-in.
TWO_FACTOR_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/api/")


def two_factor_required() -> bool:
    return settings.STAFF_2FA_REQUIRED


class IdleLogoutMiddleware:
    """Log a session off after IDLE_TIMEOUT_MINUTES without a request (issue 2: 15 by default)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            last_seen = request.session.get(LAST_SEEN_KEY)
            limit = settings.IDLE_TIMEOUT_MINUTES * 60
            if last_seen is not None and now - float(last_seen) > limit:
                audit_record(actor=user, action=AuditAction.LOGOUT, detail={"reason": "idle"})
                logout(request)
                messages.info(
                    request,
                    f"You were logged off after {settings.IDLE_TIMEOUT_MINUTES} minutes without "
                    "activity. Log in again to continue.",
                )
                return redirect(f"{reverse('accounts:login')}?{urlencode({'next': request.path})}")
            if last_seen is None or now - float(last_seen) >= LAST_SEEN_RESOLUTION_SECONDS:
                request.session[LAST_SEEN_KEY] = now
        return self.get_response(request)


class StaffTwoFactorMiddleware:
    """Staff must complete TOTP verification (django-otp) before any page but the log-in ones."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            two_factor_required()
            and user is not None
            and user.is_authenticated
            and user.is_clinic_staff
            and not user.is_verified()
            and not request.path.startswith(TWO_FACTOR_EXEMPT_PREFIXES)
        ):
            return redirect("accounts:two_factor")
        return self.get_response(request)
