"""The portal's writes on an appointment (issue 18 section 1): thin over scheduling's services,
which keep the rules (own appointment only, the online cut-off, booking checks, the audit)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError

from infusionclinic.accounts.models import User
from infusionclinic.scheduling import services as scheduling
from infusionclinic.scheduling.models import Appointment

from .selectors import appointment_change_policy


def portal_appointment_cancel(
    *, actor: User, appointment: Appointment, reason: str, fee_accepted: bool
) -> Appointment:
    """Cancel through scheduling's `appointment_cancel` (refused inside the online cut-off).
    A cancellation inside the late-cancel window when the clinic charges a fee needs the
    patient to have read and accepted the fee first."""
    policy = appointment_change_policy(appointment=appointment)
    if policy.fee_applies and not fee_accepted:
        raise ValidationError(
            {
                "fee_accepted": [
                    f"This is less than {policy.late_cancel_hours} h before the appointment: "
                    f"tick the box to accept the late-cancellation fee of "
                    f"${policy.late_cancel_fee}."
                ]
            }
        )
    return scheduling.appointment_cancel(actor=actor, appointment=appointment, reason=reason)


def portal_appointment_reschedule(
    *, actor: User, appointment: Appointment, starts_at: datetime
) -> Appointment:
    """Move to one of the offered times, with scheduling's checks (`appointment_move`)."""
    return scheduling.appointment_move(actor=actor, appointment=appointment, starts_at=starts_at)


def portal_appointment_confirm(*, actor: User, appointment: Appointment) -> Appointment:
    return scheduling.appointment_confirm(actor=actor, appointment=appointment)
