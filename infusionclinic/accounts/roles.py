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
    COURSE_VIEW = "course.view"  # treatment courses and their phase history
    COURSE_MANAGE = "course.manage"  # start a course, decide its phase; edit protocols
    ORDER_VIEW_SIGNED = "order.view_signed"  # signed dosing orders
    ORDER_WRITE = "order.write"  # draft, revise and sign dosing orders (dosing.md LIM-15)
    REPORT_VIEW = "report.view"  # the progress report for the referring provider
    REPORT_SHARE = "report.share"  # send it (expiring link) to the referring provider
    EMERGENCY_ACCESS = "chart.emergency_access"  # "break the glass": always audited
    AUDIT_REPORT = "audit.report"
    ADMIN_SITE = "admin.site"
    OUTCOMES_VIEW = "outcomes.view"  # scores, charts, safety alerts of a patient
    ASSESSMENT_ENTER = "outcomes.enter"  # answers on the patient's behalf, amendments
    INSTRUMENT_ASSIGN = "outcomes.assign"
    ASSESSMENT_SELF_REPORT = "outcomes.self_report"  # a patient fills in their own
    SAFETY_ALERT_ACK = "outcomes.acknowledge_alert"  # SCALE-4: clinicians (prescribers, nurses)
    LEADS_MANAGE = "leads.manage"  # consultation requests from the public site
    SITE_EDIT = "site.edit"  # public pages
    NEWSLETTER_MANAGE = "newsletter.manage"  # campaigns, subscriber export

    # Intake, eligibility screening and consent (issue 4).
    REFERRAL_MANAGE = "intake.manage_referrals"
    INTAKE_EDIT = "intake.edit"  # fill in a draft intake (the patient, or staff on their behalf)
    INTAKE_AMEND = "intake.amend"  # change a submitted intake, with a reason
    SCREENING_VIEW = "intake.view_screening"
    SCREENING_RUN = "intake.run_screening"
    SCREENING_REVIEW = "intake.review_screening"  # decide on relative findings (ELIG-B*)
    PRIOR_TREATMENT_EDIT = "intake.edit_prior_treatments"
    CONSENT_SIGN = "consent.sign"
    CONSENT_COUNTERSIGN = "consent.countersign"
    CONSENT_PUBLISH = "consent.publish"
    APPOINTMENT_BOOK = "schedule.book"  # book, move, cancel, record no-shows
    # Controlled-substance log (issue 7, controlled-substances.md).
    CS_VIEW = "controlled.view"  # ledger, counts, discrepancies of one's locations
    CS_RECORD = "controlled.record"  # receive, draw, administer, waste, count (licensed staff)
    CS_EXPORT = "controlled.export"  # biennial inventory and theft/loss data pack
    # Self-pay billing (issue 9).
    BILLING_MANAGE = "billing.manage"  # prices, invoices, packages, payments, refunds, superbills
    BILLING_PROVIDER_EDIT = "billing.edit_provider"  # a prescriber's NPI for claims
    BILLING_VIEW_OWN = "billing.view_own"  # a patient's own invoices and receipts
    # Clinic analytics (issue 9 item 4): aggregate figures of one's own locations.
    ANALYTICS_VIEW = "analytics.view"

    # Infusion sessions (issue 7).
    SESSION_RUN = "infusions.run"  # day board, check-in, pre-checks, pump, vitals, discharge
    SESSION_BP_OVERRIDE = "infusions.bp_override"  # MON-BP-1/2: start despite the BP gate

    # Secure messaging (issue 18 section 3): a patient writes to their location's care team;
    # front desk reads administrative threads only, nurses and prescribers both kinds.
    MESSAGE_OWN = "messaging.own"  # a patient's own threads
    MESSAGE_ADMINISTRATIVE = "messaging.administrative"  # "appointments & billing" threads
    MESSAGE_CLINICAL = "messaging.clinical"  # "clinical question" threads


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.PATIENT: frozenset(
        {
            Perm.CHART_VIEW_CLINICAL,
            Perm.ASSESSMENT_SELF_REPORT,
            Perm.INTAKE_EDIT,
            Perm.CONSENT_SIGN,
            Perm.BILLING_VIEW_OWN,
            Perm.MESSAGE_OWN,
        }
    ),
    # Front desk works with demographics, contacts and referrals; clinical detail is not theirs
    # to read (minimum necessary).
    Role.FRONT_DESK: frozenset(
        {
            Perm.PATIENT_SEARCH,
            Perm.PATIENT_CREATE,
            Perm.PATIENT_EDIT_DEMOGRAPHICS,
            Perm.MEASUREMENT_RECORD,
            Perm.LEADS_MANAGE,
            Perm.REFERRAL_MANAGE,
            Perm.APPOINTMENT_BOOK,
            Perm.BILLING_MANAGE,
            Perm.MESSAGE_ADMINISTRATIVE,
        }
    ),
    Role.NURSE: frozenset(
        {
            Perm.PATIENT_SEARCH,
            Perm.PATIENT_EDIT_DEMOGRAPHICS,
            Perm.CHART_VIEW_CLINICAL,
            Perm.CHART_EDIT_CLINICAL,
            Perm.MEASUREMENT_RECORD,
            Perm.OUTCOMES_VIEW,
            Perm.ASSESSMENT_ENTER,
            Perm.INSTRUMENT_ASSIGN,
            # SCALE-4: "a clinician documents a risk assessment"; issue 18: the prescriber and the
            # location's nurses get the alert, and the nurse may acknowledge it.
            Perm.SAFETY_ALERT_ACK,
            Perm.COURSE_VIEW,
            Perm.ORDER_VIEW_SIGNED,
            Perm.REPORT_VIEW,
            Perm.REFERRAL_MANAGE,
            Perm.INTAKE_EDIT,
            Perm.INTAKE_AMEND,
            Perm.SCREENING_VIEW,
            Perm.SCREENING_RUN,
            Perm.PRIOR_TREATMENT_EDIT,
            Perm.CONSENT_COUNTERSIGN,
            Perm.APPOINTMENT_BOOK,
            Perm.CS_VIEW,
            Perm.CS_RECORD,
            Perm.SESSION_RUN,
            Perm.MESSAGE_ADMINISTRATIVE,
            Perm.MESSAGE_CLINICAL,
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
            Perm.COURSE_VIEW,
            Perm.COURSE_MANAGE,
            Perm.ORDER_VIEW_SIGNED,
            Perm.ORDER_WRITE,
            Perm.EMERGENCY_ACCESS,
            Perm.REPORT_VIEW,
            Perm.REPORT_SHARE,
            Perm.OUTCOMES_VIEW,
            Perm.ASSESSMENT_ENTER,
            Perm.INSTRUMENT_ASSIGN,
            Perm.SAFETY_ALERT_ACK,
            Perm.REFERRAL_MANAGE,
            Perm.INTAKE_EDIT,
            Perm.INTAKE_AMEND,
            Perm.SCREENING_VIEW,
            Perm.SCREENING_RUN,
            Perm.SCREENING_REVIEW,
            Perm.PRIOR_TREATMENT_EDIT,
            Perm.CONSENT_COUNTERSIGN,
            Perm.APPOINTMENT_BOOK,
            Perm.CS_VIEW,
            Perm.CS_RECORD,
            Perm.SESSION_RUN,
            Perm.SESSION_BP_OVERRIDE,
            Perm.MESSAGE_ADMINISTRATIVE,
            Perm.MESSAGE_CLINICAL,
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
            Perm.OUTCOMES_VIEW,
            Perm.LEADS_MANAGE,
            Perm.SITE_EDIT,
            Perm.NEWSLETTER_MANAGE,
            Perm.REFERRAL_MANAGE,
            Perm.SCREENING_VIEW,
            Perm.CONSENT_PUBLISH,
            Perm.APPOINTMENT_BOOK,
            Perm.REPORT_VIEW,
            Perm.CS_VIEW,
            Perm.CS_EXPORT,
            Perm.BILLING_MANAGE,
            Perm.BILLING_PROVIDER_EDIT,
            Perm.ANALYTICS_VIEW,
        }
    ),
}


def role_has_perm(role: str, perm: Perm) -> bool:
    try:
        return perm in ROLE_PERMS[Role(role)]
    except ValueError:
        return False
