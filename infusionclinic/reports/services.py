from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.mail import email_enqueue
from infusionclinic.patients.models import Patient

from .models import ReportShare
from .selectors import sharing_consented


@transaction.atomic
def report_share_create(
    *, actor: User, patient: Patient, recipient_email: str = ""
) -> tuple[ReportShare, str]:
    """Send the referring provider an expiring, read-only link to the progress report. Needs the
    patient's current consent to share (intake "Use of my health data"). Returns the share and
    the raw token (shown once; only its digest is stored)."""
    if not actor.has_role_perm(Perm.REPORT_SHARE):
        raise PermissionDenied("Your role may not share reports.")
    provider = patient.referring_provider
    recipient = (recipient_email or (provider.email if provider else "")).strip().lower()
    errors: dict[str, list[str]] = {}
    try:
        validate_email(recipient)
    except ValidationError:
        errors["recipient_email"] = [
            "Give the referring provider's email (none is on the chart)."
            if not recipient
            else "Enter a valid email address."
        ]
    if not sharing_consented(patient=patient):
        errors["__all__"] = [
            "The patient has not consented to sharing (the current 'Use of my health data' "
            "consent is not signed and countersigned)."
        ]
    if errors:
        raise ValidationError(errors)
    raw = ReportShare.new_token()
    share = ReportShare.objects.create(
        patient=patient,
        created_by=actor,
        recipient_email=recipient,
        token_digest=ReportShare.digest_of(raw),
        expires_at=timezone.now() + timedelta(days=settings.REPORT_LINK_DAYS),
    )
    audit_record(
        actor=actor,
        action=AuditAction.EXPORT,
        patient=patient,
        obj=share,
        detail={
            "report": "progress",
            "sent_to": recipient,
            "expires_at": share.expires_at.isoformat(),
        },
    )
    link = settings.SITE_URL.rstrip("/") + reverse("reports:shared", kwargs={"token": raw})
    # The mail carries the link only: no patient name, no clinical data.
    body = (
        f"{settings.CLINIC_NAME} shares a progress report about a patient you referred.\n\n"
        f"Open it here (read-only, until {share.expires_at:%Y-%m-%d} UTC):\n{link}\n\n"
        "Opening the link is recorded. If you were not expecting this, please tell us."
    )
    transaction.on_commit(
        lambda: email_enqueue(
            subject="Progress report from your patient's infusion clinic", body=body, to=[recipient]
        )
    )
    return share, raw


@transaction.atomic
def report_share_revoke(*, actor: User, share: ReportShare) -> ReportShare:
    if not actor.has_role_perm(Perm.REPORT_SHARE):
        raise PermissionDenied("Your role may not revoke report links.")
    if share.revoked_at is None:
        share.revoked_at = timezone.now()
        share.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient=share.patient,
            obj=share,
            detail={"revoked": True},
        )
    return share
