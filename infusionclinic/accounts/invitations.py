"""Issue 21 point 2: staff invite a registered patient to the portal. The invitation creates the
patient's log-in (`user_create`, role patient, linked by MRN, no password) and mails a link to
choose a password, made by Django's password-reset token machinery under its own salt and
validity (ACCOUNTS_PORTAL_INVITATION_HOURS), so a reset link cannot stand in for an invitation
or the other way round. The token hashes the password and the last log-in, so a link works once.

The mail carries no health information: no name, no MRN, nothing about appointments or care."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_encode

from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_at_location
from infusionclinic.common.mail import email_enqueue

from .models import User
from .roles import Perm, Role
from .services import user_create

if TYPE_CHECKING:
    from infusionclinic.patients.models import Patient


class PortalInvitationTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset tokens, another salt, and the invitation's own validity."""

    key_salt = "infusionclinic.accounts.invitations.PortalInvitationTokenGenerator"

    def check_token(self, user: User | None, token: str | None) -> bool:  # type: ignore[override]
        if not (user and token):
            return False
        try:
            ts_b36, _ = token.split("-")
            ts = base36_to_int(ts_b36)
        except ValueError:
            return False
        if not any(
            constant_time_compare(self._make_token_with_timestamp(user, ts, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        ):
            return False
        limit = settings.ACCOUNTS_PORTAL_INVITATION_HOURS * 3600
        return self._num_seconds(self._now()) - ts <= limit


portal_invitation_token_generator = PortalInvitationTokenGenerator()


def portal_invitation_link(*, user: User) -> str:
    path = reverse(
        "accounts:invitation_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": portal_invitation_token_generator.make_token(user),
        },
    )
    return settings.SITE_URL.rstrip("/") + path


def _require_invite_rights(actor: User, patient: Patient) -> None:
    # Whoever may register patients (accounts/roles.py: front desk, admin) at the patient's
    # home location.
    if not actor.has_role_perm(Perm.PATIENT_CREATE):
        raise PermissionDenied("Your role may not invite patients to the portal.")
    require_at_location(
        actor, patient.home_location_id, "The patient belongs to a location you do not work at."
    )


def _locked(patient: Patient) -> Patient:
    from infusionclinic.patients.models import Patient  # patients depends on accounts

    return Patient.objects.select_for_update().get(pk=patient.pk)


def _mail(user: User) -> None:
    context = {
        "email": user.email,
        "link": portal_invitation_link(user=user),
        "hours": settings.ACCOUNTS_PORTAL_INVITATION_HOURS,
        "login_url": settings.SITE_URL.rstrip("/") + reverse("accounts:login"),
    }
    email_enqueue(
        subject="".join(
            render_to_string("accounts/portal_invitation_subject.txt", context).splitlines()
        ),
        body=render_to_string("accounts/portal_invitation_email.txt", context),
        to=[user.email],
    )


@transaction.atomic
def portal_invitation_send(*, actor: User, patient: Patient) -> User:
    """Create the patient's portal log-in and mail the set-password link. Refused when the
    patient has no e-mail address or already has a log-in (then `portal_invitation_resend`)."""
    _require_invite_rights(actor, patient)
    patient = _locked(patient)  # two desks inviting at once: the second sees the first's log-in
    if patient.user_id is not None:
        raise ValidationError(
            {"portal": ["The patient already has a portal account: resend the invitation."]},
            code="exists",
        )
    if not patient.email:
        raise ValidationError(
            {
                "email": [
                    "Record an e-mail address for this patient first: the invitation is mailed."
                ]
            },
        )
    user = user_create(
        actor=actor,
        email=patient.email,
        role=Role.PATIENT,
        password=None,
        full_name=patient.display_name,
        patient_mrn=patient.mrn,
    )
    _mail(user)
    audit_record(
        actor=actor,
        action=AuditAction.GRANT,
        patient=patient,
        obj=user,
        detail={"portal_invitation": "sent"},
    )
    return user


@transaction.atomic
def portal_invitation_resend(*, actor: User, patient: Patient) -> User:
    """Mail a new set-password link to the patient's log-in while the invitation is not yet
    accepted (no password chosen). Once it is, the patient uses "Forgot your password?"."""
    _require_invite_rights(actor, patient)
    patient = _locked(patient)
    user = User.objects.filter(pk=patient.user_id, role=Role.PATIENT).first()
    if user is None:
        raise ValidationError({"portal": ["The patient has no portal account yet: invite them."]})
    if not user.is_active:
        raise ValidationError({"portal": ["The patient's portal account is deactivated."]})
    if user.has_usable_password():
        raise ValidationError(
            {
                "portal": [
                    "The patient has already chosen a password; they can use "
                    "“Forgot your password?” on the log-in page."
                ]
            }
        )
    _mail(user)
    audit_record(
        actor=actor,
        action=AuditAction.GRANT,
        patient=patient,
        obj=user,
        detail={"portal_invitation": "resent"},
    )
    return user
