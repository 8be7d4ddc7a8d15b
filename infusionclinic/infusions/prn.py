"""In-chair PRN medicines (issue 21 point 13): the medicines a session may give (data file
data/prn_medicines.json, doses unverified), the prescriber's signed standing order, and the
nurse's record of each medicine given under it.

Services: `standing_order_sign`, `standing_order_revoke`, `prn_administer`; each audited in its
transaction. Selectors: `standing_order_lines_for_session`, `prn_given`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients.models import Patient

from .models import InfusionSession, SessionState
from .prn_catalogue import PrnMedicine, prn_medicines  # noqa: F401  (read as prn.*)
from .prn_models import MedicationAdministration, StandingOrder, StandingOrderLine

FUTURE_SKEW = timedelta(seconds=60)
# A PRN medicine is given while the patient is in the chair: from check-in to discharge.
IN_CHAIR = (
    SessionState.CHECKED_IN,
    SessionState.PRE_CHECKS,
    SessionState.INFUSING,
    SessionState.PAUSED,
    SessionState.RECOVERING,
)


def _decimal(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.setdefault(field, []).append("Give a number.")
        return None
    if not number.is_finite() or number <= 0:
        errors.setdefault(field, []).append("Give a number above zero.")
        return None
    if number != number.quantize(Decimal("0.001")) or number >= Decimal("10000"):
        errors.setdefault(field, []).append("At most 3 decimals, below 10000.")
        return None
    return number


def _audit(actor: User, patient: Patient, obj: Any, **detail: Any) -> None:
    audit_record(actor=actor, action=AuditAction.CREATE, patient=patient, obj=obj, detail=detail)


def standing_order_sign(
    *,
    actor: User,
    patient: Patient,
    lines: list[dict[str, Any]],
    course: Any = None,
    note: str = "",
    password: str = "",
    totp: str = "",
) -> StandingOrder:
    """A prescriber signs the PRN medicines a nurse may give in the chair: each line a medicine
    of the data file with its dose, route and maximum per session. Re-authenticated like a
    dosing order (password or TOTP; a failed attempt's audit event is kept, outside the
    transaction). `course` limits it to that course's sessions."""
    from infusionclinic.accounts.services import user_reauthenticate

    if actor.role != Role.PRESCRIBER or not actor.has_role_perm(Perm.ORDER_WRITE):
        raise PermissionDenied("Only a prescriber signs standing orders.")
    field, method = ("totp", "totp") if totp else ("password", "password")
    secret = totp or password
    if not secret.strip():
        raise ValidationError({"password": ["Re-enter your password or a TOTP code to sign."]})
    if not user_reauthenticate(user=actor, secret=secret, purpose="sign standing order"):
        raise ValidationError({field: ["Not correct: re-enter your password or a current code."]})
    return _sign(actor=actor, patient=patient, lines=lines, course=course, note=note, method=method)


@transaction.atomic
def _sign(
    *,
    actor: User,
    patient: Patient,
    lines: list[dict[str, Any]],
    course: Any,
    note: str,
    method: str,
) -> StandingOrder:
    catalogue = prn_medicines()
    errors: dict[str, list[str]] = {}
    if course is not None and course.patient_id != patient.pk:
        errors["course"] = ["Not this patient's course."]
    if not lines:
        errors["__all__"] = ["List at least one medicine."]
    clean: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line in lines:
        med = catalogue.get(str(line.get("medicine", "")))
        key = str(line.get("medicine", ""))
        if med is None:
            errors.setdefault(key or "medicine", []).append(
                "Not a PRN medicine of the clinic's list."
            )
            continue
        if med.id in seen:
            errors.setdefault(med.id, []).append("Listed twice.")
            continue
        seen.add(med.id)
        dose = _decimal(line.get("dose"), f"{med.id}_dose", errors)
        top = _decimal(line.get("max_per_session"), f"{med.id}_max_per_session", errors)
        route = str(line.get("route", ""))
        if route not in med.routes:
            errors.setdefault(f"{med.id}_route", []).append(
                f"{med.name} is given {' or '.join(med.routes)}."
            )
        if dose is not None and top is not None and top < dose:
            errors.setdefault(f"{med.id}_max_per_session", []).append(
                "The maximum per session cannot be below the dose."
            )
        indication = str(line.get("indication") or med.indication).strip()[:200]
        clean.append(
            {
                "medicine": med.id,
                "dose": dose,
                "unit": med.unit,
                "route": route,
                "max_per_session": top,
                "indication": indication,
            }
        )
    if errors:
        raise ValidationError(errors)
    order = StandingOrder.objects.create(
        patient=patient,
        course=course,
        note=note.strip()[:500],
        signed_by=actor,
        signed_at=timezone.now(),
        sign_method=method,
    )
    StandingOrderLine.objects.bulk_create(
        [StandingOrderLine(standing_order=order, **line) for line in clean]
    )
    _audit(
        actor,
        patient,
        order,
        event="standing_order_sign",
        course=course.pk if course is not None else None,
        method=method,
        lines=[
            {
                "medicine": line["medicine"],
                "dose": str(line["dose"]),
                "unit": line["unit"],
                "route": line["route"],
                "max_per_session": str(line["max_per_session"]),
            }
            for line in clean
        ],
    )
    return order


@transaction.atomic
def standing_order_revoke(
    *, actor: User, standing_order: StandingOrder, reason: str
) -> StandingOrder:
    """A prescriber withdraws a standing order (given medicines stay recorded under it)."""
    if actor.role != Role.PRESCRIBER or not actor.has_role_perm(Perm.ORDER_WRITE):
        raise PermissionDenied("Only a prescriber revokes standing orders.")
    order = StandingOrder.objects.select_for_update().get(pk=standing_order.pk)
    if order.revoked_at is not None:
        raise ValidationError({"__all__": ["This standing order is already revoked."]})
    if not reason.strip():
        raise ValidationError({"reason": ["Give the reason."]})
    order.revoked_by, order.revoked_at = actor, timezone.now()
    order.revoke_reason = reason.strip()[:500]
    order.save(update_fields=["revoked_by", "revoked_at", "revoke_reason"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient=order.patient,
        obj=order,
        detail={"event": "standing_order_revoke", "reason": order.revoke_reason},
    )
    return order


def _course_id(session: InfusionSession) -> int | None:
    return session.order.course_id if session.order_id else None


def standing_order_lines_for_session(session: InfusionSession) -> list[StandingOrderLine]:
    """The lines of the patient's signed, unrevoked standing orders that apply to this session:
    per-patient orders, and per-course orders of the session's course (its dosing order's).
    Newest order first; a medicine listed by several orders is offered once, from the newest."""
    course_id = _course_id(session)
    lines = (
        StandingOrderLine.objects.filter(
            standing_order__patient_id=session.patient_id,
            standing_order__revoked_at__isnull=True,
            standing_order__signed_at__lte=timezone.now(),
        )
        .select_related("standing_order__signed_by")
        .order_by("-standing_order__signed_at", "-standing_order__pk", "pk")
    )
    out: list[StandingOrderLine] = []
    seen: set[str] = set()
    for line in lines:
        order_course = line.standing_order.course_id
        if order_course is not None and order_course != course_id:
            continue
        if line.medicine not in seen:
            seen.add(line.medicine)
            out.append(line)
    return out


def prn_given(session: InfusionSession) -> QuerySet[MedicationAdministration]:
    return session.prn_given.select_related(
        "given_by", "standing_order_line__standing_order__signed_by"
    )


def _given_so_far(session: InfusionSession, medicine: str) -> Decimal:
    total = MedicationAdministration.objects.filter(session=session, medicine=medicine).aggregate(
        total=Sum("dose")
    )["total"]
    return total or Decimal(0)


@transaction.atomic
def prn_administer(
    *,
    actor: User,
    session: InfusionSession,
    medicine: str,
    dose: Any,
    route: str,
    reason: str,
    given_at: datetime | None = None,
) -> MedicationAdministration:
    """Record a PRN medicine given in the chair. Refused unless a signed, unrevoked standing
    order for this patient (and, if per course, this session's course) lists the medicine with
    this route, and the dose keeps the session's total within the order's maximum."""
    if actor.role not in (Role.NURSE, Role.PRESCRIBER) or not actor.has_role_perm(Perm.SESSION_RUN):
        raise PermissionDenied("A nurse or a prescriber gives and records PRN medicines.")
    session = (
        InfusionSession.objects.select_for_update()
        .select_related("order", "patient")
        .get(pk=session.pk)
    )
    if session.state not in IN_CHAIR:
        raise ValidationError(
            {"state": [f"Not possible while the session is {session.get_state_display()}."]}
        )
    errors: dict[str, list[str]] = {}
    med = prn_medicines().get(medicine)
    line = next(
        (ln for ln in standing_order_lines_for_session(session) if ln.medicine == medicine), None
    )
    if med is None:
        errors["medicine"] = ["Not a PRN medicine of the clinic's list."]
    elif line is None:
        errors["medicine"] = [
            f"{med.name} is not in a signed standing order for this patient: "
            "a prescriber must sign one first."
        ]
    amount = _decimal(dose, "dose", errors)
    if line is not None and route != line.route:
        errors["route"] = [
            f"The standing order gives {med.name if med else medicine} {line.route}."
        ]
    if line is not None and amount is not None:
        so_far = _given_so_far(session, medicine)
        if so_far + amount > line.max_per_session:
            errors["dose"] = [
                f"Above the standing order's maximum: {line.max_per_session.normalize():f} "
                f"{line.unit} per session, {so_far.normalize():f} {line.unit} already given. "
                "Ask the prescriber."
            ]
    if not reason.strip():
        errors["reason"] = ["Say why it is given."]
    at = given_at or timezone.now()
    if timezone.is_naive(at):
        errors["given_at"] = ["Give the time with its UTC offset."]
    elif at > timezone.now() + FUTURE_SKEW:
        errors["given_at"] = ["Cannot be in the future."]
    elif session.checked_in_at and at < session.checked_in_at:
        errors["given_at"] = ["Before the patient's check-in."]
    if errors or line is None or amount is None:
        raise ValidationError(errors or {"medicine": ["Choose a medicine of the standing order."]})
    given = MedicationAdministration.objects.create(
        session=session,
        standing_order_line=line,
        medicine=line.medicine,
        dose=amount,
        unit=line.unit,
        route=line.route,
        given_at=at,
        given_by=actor,
        reason=reason.strip()[:500],
    )
    _audit(
        actor,
        session.patient,
        given,
        event="prn_administer",
        session=session.pk,
        standing_order=line.standing_order_id,
        medicine=given.medicine,
        dose=f"{given.dose.normalize():f}",
        unit=given.unit,
        route=given.route,
    )
    return given


def prn_note_lines(session: InfusionSession) -> list[str]:
    """The note's lines for the PRN medicines given (issue 21 point 13)."""
    tz = session.location.tzinfo
    catalogue = prn_medicines()
    lines = ["PRN medicines given under standing orders:"]
    given = list(prn_given(session))
    for g in given:
        med = catalogue.get(g.medicine)
        order = g.standing_order_line.standing_order
        lines.append(
            f"  {g.given_at.astimezone(tz):%Y-%m-%d %H:%M} {med.name if med else g.medicine} "
            f"{g.dose.normalize():f} {g.unit} {g.route} by {g.given_by} — {g.reason} "
            f"(standing order #{order.pk} signed by {order.signed_by})"
        )
    if not given:
        lines.append("  none")
    return lines
