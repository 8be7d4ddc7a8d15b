"""Roles and what each may do. This table is the one place that decides capability; record-level
visibility (which location, which patient) is decided by the selectors."""

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    PATIENT = "patient", "Patient"
    FRONT_DESK = "front_desk", "Front desk"
    NURSE = "nurse", "Nurse"
    PRESCRIBER = "prescriber", "Prescriber"
    ADMIN = "admin", "Clinic admin"


STAFF_ROLES = frozenset({Role.FRONT_DESK, Role.NURSE, Role.PRESCRIBER, Role.ADMIN})


class Perm(StrEnum):
    PATIENT_SEARCH = "patient.search"
    PATIENT_CREATE = "patient.create"
    PATIENT_EDIT_DEMOGRAPHICS = "patient.edit_demographics"
    CHART_VIEW_CLINICAL = "chart.view_clinical"  # allergies, medications, diagnoses, measurements
    CHART_EDIT_CLINICAL = "chart.edit_clinical"  # allergies, medications
    MEASUREMENT_RECORD = "chart.record_measurement"  # weight and height
    DIAGNOSIS_EDIT = "chart.edit_diagnoses"
    EMERGENCY_ACCESS = "chart.emergency_access"  # "break the glass": always audited
    AUDIT_REPORT = "audit.report"
    ADMIN_SITE = "admin.site"
    APPOINTMENT_BOOK = "schedule.book"  # book, move, cancel, record no-shows


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.PATIENT: frozenset({Perm.CHART_VIEW_CLINICAL}),
    # Front desk works with demographics, contacts and referrals; clinical detail is not theirs
    # to read (minimum necessary).
    Role.FRONT_DESK: frozenset(
        {
            Perm.PATIENT_SEARCH,
            Perm.PATIENT_CREATE,
            Perm.PATIENT_EDIT_DEMOGRAPHICS,
            Perm.MEASUREMENT_RECORD,
            Perm.APPOINTMENT_BOOK,
        }
    ),
    Role.NURSE: frozenset(
        {
            Perm.PATIENT_SEARCH,
            Perm.PATIENT_EDIT_DEMOGRAPHICS,
            Perm.CHART_VIEW_CLINICAL,
            Perm.CHART_EDIT_CLINICAL,
            Perm.MEASUREMENT_RECORD,
            Perm.APPOINTMENT_BOOK,
        }
    ),
    Role.PRESCRIBER: frozenset(
        {
            Perm.PATIENT_SEARCH,
            Perm.PATIENT_EDIT_DEMOGRAPHICS,
            Perm.CHART_VIEW_CLINICAL,
            Perm.CHART_EDIT_CLINICAL,
            Perm.MEASUREMENT_RECORD,
            Perm.DIAGNOSIS_EDIT,
            Perm.EMERGENCY_ACCESS,
            Perm.APPOINTMENT_BOOK,
        }
    ),
    Role.ADMIN: frozenset(
        {
            Perm.PATIENT_SEARCH,
            Perm.PATIENT_CREATE,
            Perm.PATIENT_EDIT_DEMOGRAPHICS,
            Perm.CHART_VIEW_CLINICAL,
            Perm.MEASUREMENT_RECORD,
            Perm.AUDIT_REPORT,
            Perm.ADMIN_SITE,
            Perm.APPOINTMENT_BOOK,
        }
    ),
}


def role_has_perm(role: str, perm: Perm) -> bool:
    try:
        return perm in ROLE_PERMS[Role(role)]
    except ValueError:
        return False
