"""Issue 21 point 9: an open SCALE-4 safety alert (PHQ-9 item 9) is shown at every step that
moves a patient towards an infusion — course start, dosing order signing, series booking,
single booking, check-in and pre-checks — with a link to where it is resolved.

Pre-checks keep their hard stop (scales.md SCALE-4, PROT-14). The other steps warn: the user
ticks "I have seen the open safety alert" (field `SEEN_FIELD`) before the step goes ahead, and
that acknowledgement is audited with the alerts it covered. Every step reads the alerts through
the one selector, `selectors.safety_alerts_open`."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients.models import Patient

from .models import SafetyAlert
from .selectors import safety_alerts_open

SEEN_FIELD = "safety_alert_seen"
SEEN_LABEL = "I have seen the open safety alert"


@dataclass(frozen=True)
class SafetyAlertGate:
    """The open alerts at one step, what this user may see of them, and whether the user ticked
    the box. `blocks` is what the step checks."""

    patient: Patient
    step: str
    alerts: list[SafetyAlert] = field(default_factory=list)
    seen: bool = False
    can_view: bool = False  # the alert's text and the outcomes page (OUTCOMES_VIEW)
    can_acknowledge: bool = False  # SAFETY_ALERT_ACK: prescribers and nurses
    needs_checkbox: bool = True  # False where the step blocks anyway (pre-checks)

    @property
    def open(self) -> bool:
        return bool(self.alerts)

    @property
    def blocks(self) -> bool:
        return self.open and self.needs_checkbox and not self.seen

    @property
    def link(self) -> str:
        """Where the alert is resolved: its entry on the patient's outcomes page, whose form
        acknowledges it (for prescribers); for other clinical roles the same page to read it."""
        url = reverse("outcomes:patient", kwargs={"patient_id": self.patient.pk})
        return f"{url}#alert-{self.alerts[0].pk}" if self.alerts else url

    @property
    def field_name(self) -> str:
        return SEEN_FIELD

    @property
    def label(self) -> str:
        return SEEN_LABEL

    def error(self) -> str:
        return (
            f"SCALE-4: this patient has an open safety alert; tick “{SEEN_LABEL}” to go on, "
            "or have a prescriber acknowledge it first."
        )


def safety_alert_gate(
    *, request: HttpRequest, patient: Patient, step: str, needs_checkbox: bool = True
) -> SafetyAlertGate:
    user = request.user
    return SafetyAlertGate(
        patient=patient,
        step=step,
        alerts=safety_alerts_open(patient=patient),
        seen=request.method == "POST" and request.POST.get(SEEN_FIELD) in ("on", "true", "1"),
        can_view=user.has_role_perm(Perm.OUTCOMES_VIEW),
        can_acknowledge=user.has_role_perm(Perm.SAFETY_ALERT_ACK),
        needs_checkbox=needs_checkbox,
    )


def safety_alert_seen_record(*, actor: User, gate: SafetyAlertGate) -> None:
    """Audit that the user went on past open alerts at this step, naming them. Call it inside
    the step's transaction (or right after its service succeeded)."""
    if not gate.open:
        return
    audit_record(
        actor=actor,
        action=AuditAction.VIEW,
        patient=gate.patient,
        detail={
            "safety_alerts_seen": [a.pk for a in gate.alerts],
            "rule_ids": sorted({a.rule_id for a in gate.alerts}),
            "step": gate.step,
        },
    )


def safety_alert_require_seen(*, actor: User, gate: SafetyAlertGate) -> None:
    """For handlers that map a ValidationError to their form: refuse the step until the box is
    ticked, else audit the acknowledgement."""
    if gate.blocks:
        raise ValidationError({SEEN_FIELD: [gate.error()]})
    safety_alert_seen_record(actor=actor, gate=gate)
