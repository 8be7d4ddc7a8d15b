"""protocol.md PRE-7: the facility checklist of a clinic day. No infusion starts at a location
until today's check names a prescriber experienced in airway management and an ACLS-certified
clinician present, and confirms the emergency airway equipment and resuscitation drugs on site
(setting `INFUSIONS["facility_check_required"]`, on by default)."""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_at_location

from .conf import conf
from .models import FacilityCheck, InfusionSession


def local_today(location: Location, *, at: datetime | None = None) -> date:
    return (at or timezone.now()).astimezone(location.tzinfo).date()


def facility_check_today(*, location: Location, at: datetime | None = None) -> FacilityCheck | None:
    """The latest PRE-7 check of the location's clinic day (a correction is a newer row)."""
    day = local_today(location, at=at)
    return (
        FacilityCheck.objects.filter(location=location, local_date=day)
        .select_related("airway_prescriber", "acls_clinician", "recorded_by")
        .first()
    )


def facility_problems(session: InfusionSession, *, at: datetime | None = None) -> list[str]:
    if not conf("facility_check_required"):
        return []
    if facility_check_today(location=session.location, at=at) is None:
        return [
            f"PRE-7: today's facility check at {session.location.name} is not recorded: a "
            "prescriber experienced in airway management, emergency airway equipment and "
            "resuscitation drugs on site, an ACLS-certified clinician present (infusion board → "
            "Facility check)."
        ]
    return []


def clinicians_on_site(location: Location) -> tuple[list[User], list[User]]:
    """Who may be named: the location's active prescribers (airway) and nurses or prescribers
    (ACLS)."""
    staff = list(
        location.staff.filter(is_active=True, role__in=[Role.PRESCRIBER, Role.NURSE]).order_by(
            "full_name", "email"
        )
    )
    return [u for u in staff if u.role == Role.PRESCRIBER], staff


@transaction.atomic
def facility_check_record(
    *,
    actor: User,
    location: Location,
    airway_prescriber: User,
    acls_clinician: User,
    airway_equipment_checked: bool,
    resuscitation_drugs_checked: bool,
    note: str = "",
    at: datetime | None = None,
) -> FacilityCheck:
    """A nurse or prescriber of the location records today's PRE-7 check, naming who is there."""
    if not actor.has_role_perm(Perm.SESSION_RUN):
        raise PermissionDenied("Your role does not run infusion sessions.")
    require_at_location(actor, location)
    prescribers, clinicians = clinicians_on_site(location)
    errors: dict[str, list[str]] = {}
    if airway_prescriber not in prescribers:
        errors["airway_prescriber"] = ["Name a prescriber of this location (PRE-7)."]
    if acls_clinician not in clinicians:
        errors["acls_clinician"] = ["Name a nurse or prescriber of this location (PRE-7)."]
    if not airway_equipment_checked:
        errors["airway_equipment_checked"] = [
            "Check the emergency airway equipment before infusions start (PRE-7)."
        ]
    if not resuscitation_drugs_checked:
        errors["resuscitation_drugs_checked"] = [
            "Check the resuscitation drugs before infusions start (PRE-7)."
        ]
    if errors:
        raise ValidationError(errors)
    now = at or timezone.now()
    check = FacilityCheck.objects.create(
        location=location,
        local_date=local_today(location, at=now),
        airway_prescriber=airway_prescriber,
        acls_clinician=acls_clinician,
        airway_equipment_checked=True,
        resuscitation_drugs_checked=True,
        note=note.strip(),
        recorded_by=actor,
        recorded_at=now,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=check,
        detail={
            "rule_id": "PRE-7",
            "location": location.code,
            "day": check.local_date.isoformat(),
            "airway_prescriber": airway_prescriber.pk,
            "acls_clinician": acls_clinician.pk,
        },
    )
    return check
