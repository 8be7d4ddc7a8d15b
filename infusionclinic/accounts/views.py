from datetime import timedelta
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.selectors import AuditFilter, audit_events_for_user
from infusionclinic.audit.services import audit_record

from .api_tokens import (
    REVOKED_PASSWORD_RESET,
    api_token_get_for_user,
    api_token_revoke,
    api_tokens_for_user,
    api_tokens_revoke_all,
)
from .forms import EmailAuthenticationForm, QueuedPasswordResetForm, TokenForm
from .invitations import portal_invitation_token_generator
from .roles import Perm, Role
from .services import user_sessions_end_all


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form: EmailAuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        audit_record(actor=form.get_user(), action=AuditAction.LOGIN)
        return response

    def form_invalid(self, form: EmailAuthenticationForm) -> HttpResponse:
        audit_record(
            actor=None,
            action=AuditAction.LOGIN_FAILED,
            detail={"email": (form.data.get("username") or "")[:254]},
        )
        return super().form_invalid(form)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit_record(actor=request.user, action=AuditAction.LOGOUT)
    return auth_views.LogoutView.as_view()(request)


@require_POST
@login_required
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    """End every session of this user (other browsers, a lost phone), then this one."""
    user_sessions_end_all(actor=request.user, user=request.user)
    logout(request)
    messages.success(request, "You are logged out on every device.")
    return redirect("accounts:login")


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("accounts:home")


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Second log-in step for staff: verify a TOTP code, or enrol an authenticator app first."""
    user = request.user
    if not user.is_clinic_staff or user.is_verified():
        return redirect("accounts:home")
    confirmed = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    form = TokenForm(request.POST or None)
    if confirmed is not None:
        if request.method == "POST" and form.is_valid():
            device = match_token(user, form.cleaned_data["token"])
            if device is not None:
                otp_login(request, device)
                return HttpResponseRedirect(_safe_next(request))
            form.add_error("token", "That code is not right, or it has expired. Try the next one.")
        return render(request, "accounts/two_factor_verify.html", {"form": form})

    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            messages.success(request, "Two-factor log-in is set up.")
            return HttpResponseRedirect(_safe_next(request))
        form.add_error("token", "That code does not match. Check the app's clock and try again.")
    qr_svg = segno.make(device.config_url, error="m").svg_inline(scale=4)
    secret = _base32_secret(device)
    return render(
        request,
        "accounts/two_factor_setup.html",
        {"form": form, "qr_svg": qr_svg, "secret": secret},
    )


def _base32_secret(device: TOTPDevice) -> str:
    import base64

    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


HOME_TEMPLATES = {
    Role.FRONT_DESK: "accounts/home_front_desk.html",
    Role.NURSE: "accounts/home_nurse.html",
    Role.PRESCRIBER: "accounts/home_prescriber.html",
    Role.ADMIN: "accounts/home_admin.html",
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands on its own home page; a patient lands on the portal home (issue 18)."""
    user = request.user
    if user.role == Role.PATIENT:
        return redirect("portal:home")
    template = HOME_TEMPLATES.get(Role(user.role)) if user.role in Role.values else None
    if template is None:
        return render(request, "accounts/no_role.html", status=403)
    context: dict[str, Any] = {
        "locations": user.locations.order_by("name"),
        "idle_minutes": settings.IDLE_TIMEOUT_MINUTES,
    }
    if user.role == Role.PRESCRIBER:
        # Issue 21 point 4: verbal and telephone orders (MON-BP-3) waiting for co-signature.
        from infusionclinic.infusions.selectors import verbal_orders_awaiting_cosign

        to_cosign = verbal_orders_awaiting_cosign(user=user)
        context["verbal_orders_to_cosign"] = to_cosign
        if to_cosign:
            audit_record(
                actor=user,
                action=AuditAction.VIEW,
                detail={
                    "page": "home: verbal orders to co-sign",
                    "verbal_orders": [o.pk for o in to_cosign],
                },
            )
    if user.has_role_perm(Perm.AUDIT_REPORT):
        since = timezone.now() - timedelta(days=30)
        context["emergency_accesses"] = audit_events_for_user(
            user=user, filters=AuditFilter(action=AuditAction.BREAK_GLASS, date_from=since.date())
        )[:20]
    return render(request, template, context)


password_reset = auth_views.PasswordResetView.as_view(
    form_class=QueuedPasswordResetForm,
    template_name="accounts/password_reset_form.html",
    email_template_name="accounts/password_reset_email.txt",
    subject_template_name="accounts/password_reset_subject.txt",
    success_url=reverse_lazy("accounts:password_reset_done"),
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="accounts/password_reset_done.html"
)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's set-new-password page; the new password also revokes every API token of the user
    (issue 22 point 6), in the same transaction, each revocation audited."""

    def form_valid(self, form: Any) -> HttpResponse:
        with transaction.atomic():
            response = super().form_valid(form)
            api_tokens_revoke_all(actor=form.user, user=form.user, reason=REVOKED_PASSWORD_RESET)
        return response


password_reset_confirm = PasswordResetConfirmView.as_view(
    template_name="accounts/password_reset_confirm.html",
    success_url=reverse_lazy("accounts:password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)


class PortalInvitationConfirmView(PasswordResetConfirmView):
    """The link in a portal invitation (issue 21 point 2): Django's set-password page with the
    invitation's token generator. Choosing the password is audited as the invitation accepted."""

    token_generator = portal_invitation_token_generator
    template_name = "accounts/invitation_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        with transaction.atomic():
            response = super().form_valid(form)
            audit_record(
                actor=form.user,
                action=AuditAction.UPDATE,
                patient=getattr(form.user, "patient", None),
                obj=form.user,
                detail={"portal_invitation": "accepted"},
            )
        return response


invitation_confirm = PortalInvitationConfirmView.as_view()


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's own API tokens (issue 22 point 6): name, first characters, made, last used,
    expiry and whether it is active, expired or revoked (and why), each live one revocable."""
    return render(
        request,
        "accounts/api_tokens.html",
        {"tokens": list(api_tokens_for_user(user=request.user)), "days": settings.API_TOKEN_DAYS},
    )


@require_POST
@login_required
def api_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = api_token_get_for_user(user=request.user, token_id=token_id)
    api_token_revoke(actor=request.user, token=token)
    messages.success(request, f"Token {token.prefix}… is revoked; it no longer works.")
    return redirect("accounts:api_tokens")
