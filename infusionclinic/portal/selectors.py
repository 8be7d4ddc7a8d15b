"""The patient's portal home (issue 18 section 1), read in one place.

`portal_home` returns the sections in the order the patient sees them: what needs them now, the
next appointment with its pre-visit instructions and what they may change online, their score
trend, messages, and their documents. Every list is read with a fixed number of queries, however
many check-ins, appointments, scores or documents the patient has (the query-count test pins it).

The rules the page shows are the clinic's existing ones, read from where they live:
- fasting, escort and no driving: protocol.md PRE-4 (`SCHEDULING_NPO_SOLIDS_H`,
  `SCHEDULING_NPO_CLEAR_H`), PRE-5 and PRE-6, for infusions (the sedating visit);
- arrive by: no domain rule gives a number, so `PORTAL_ARRIVE_EARLY_MINUTES` (a clinic setting);
- online changes up to `SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS` before the start (scheduling's
  `_patient_cut_off`, which refuses them after), a cancellation within
  `SCHEDULING_LATE_CANCEL_HOURS` is late, and the fee is billing's fee policy
  (`SCHEDULING_LATE_CANCEL_FEE` through `billing.cardonfile.fee_policy_current`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Role
from infusionclinic.billing.cardonfile import fee_amounts
from infusionclinic.billing.models import FeeKind, InvoiceStatus, Payment, PaymentKind
from infusionclinic.billing.selectors import invoices_visible_to
from infusionclinic.courses.checkins import checkins_open_for_patient
from infusionclinic.courses.selectors import course_active_for_patient
from infusionclinic.infusions.selectors import infusion_dates
from infusionclinic.intake.models import ConsentSignature, Intake, IntakeStatus
from infusionclinic.intake.selectors import consent_status
from infusionclinic.messaging.selectors import patient_unread_count
from infusionclinic.outcomes.chart import progress_chart_svg
from infusionclinic.outcomes.models import Assessment, AssessmentSource, AssessmentStatus
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patient_get_for_user
from infusionclinic.scheduling.models import Appointment, AppointmentKind, AppointmentStatus
from infusionclinic.scheduling.selectors import appointments_visible_to, availability

# The home's sections, in the order issue 18 section 1 gives them.
SECTIONS = ("needs_now", "next_appointment", "score_trend", "messages", "documents")
SECTION_TITLES = {
    "needs_now": "What needs you now",
    "next_appointment": "Your next appointment",
    "score_trend": "How you are doing",
    "messages": "Messages",
    "documents": "Your documents",
}
DOCUMENTS_SHOWN = 10  # per kind; "My invoices" lists every invoice


def portal_patient(*, user: User) -> Patient:
    """The patient linked to this log-in, through the one access check (404 otherwise)."""
    patient = getattr(user, "patient", None) if user.role == Role.PATIENT else None
    if patient is None:
        raise Http404("No chart is linked to this log-in.")
    return patient_get_for_user(user=user, patient_id=patient.pk)


# --- What needs the patient now ----------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    kind: str  # "checkin" | "intake" | "consent" | "preparation" | "message"
    text: str
    url: str


def _needs(
    *, user: User, patient: Patient, next_appointment: Appointment | None, tz: object
) -> tuple[list[Need], list[int]]:
    needs: list[Need] = []
    checkins = checkins_open_for_patient(patient=patient)
    for checkin in checkins:
        due = checkin.due_at.astimezone(tz)  # type: ignore[arg-type]
        needs.append(
            Need(
                kind="checkin",
                text=f"{checkin.instrument_code} check-in, due since {due:%a %d %b}",
                url=reverse("courses:my_checkin", args=[checkin.pk]),
            )
        )
    intake = Intake.objects.filter(patient=patient).only("status").first()
    if intake is None or intake.status != IntakeStatus.SUBMITTED:
        needs.append(
            Need(
                kind="intake",
                text="Finish your intake form",
                url=reverse("intake:my_intake"),
            )
        )
    unsigned = [item.document for item in consent_status(patient=patient) if not item.signature]
    if unsigned:
        titles = ", ".join(d.title for d in unsigned)
        needs.append(
            Need(kind="consent", text=f"Read and sign: {titles}", url=reverse("intake:my_consent"))
        )
    if (
        next_appointment is not None
        and next_appointment.kind == AppointmentKind.INFUSION
        and next_appointment.safety_confirmed_at is None
    ):
        needs.append(
            Need(
                kind="preparation",
                text="Confirm your preparation for your infusion (fasting, escort, no driving)",
                url=reverse("scheduling:safety_confirm", args=[next_appointment.pk]),
            )
        )
    unread = patient_unread_count(user=user)
    if unread:
        plural = "message" if unread == 1 else "messages"
        needs.append(
            Need(
                kind="message",
                text=f"{unread} unread {plural} from your care team",
                url=reverse("messaging:my_threads"),
            )
        )
    return needs, [c.pk for c in checkins]


# --- The next appointment ----------------------------------------------------------------------


@dataclass(frozen=True)
class PreVisit:
    """What the patient must do before the visit, each with the rule it comes from."""

    arrive_by: datetime  # local
    fasting: str = ""  # PRE-4
    escort: str = ""  # PRE-5
    no_driving: str = ""  # PRE-6


def previsit_instructions(*, appointment: Appointment) -> PreVisit:
    tz = appointment.location.tzinfo
    starts = appointment.starts_at.astimezone(tz)
    arrive_by = starts - timedelta(minutes=settings.PORTAL_ARRIVE_EARLY_MINUTES)
    if appointment.kind != AppointmentKind.INFUSION:
        return PreVisit(arrive_by=arrive_by)
    solids_h, clear_h = settings.SCHEDULING_NPO_SOLIDS_H, settings.SCHEDULING_NPO_CLEAR_H
    no_food = starts - timedelta(hours=solids_h)
    no_drink = starts - timedelta(hours=clear_h)
    return PreVisit(
        arrive_by=arrive_by,
        fasting=(
            f"No solid food after {no_food:%H:%M} ({solids_h} h before the start); clear "
            f"liquids only until {no_drink:%H:%M} ({clear_h} h before)."
        ),
        escort=(
            "Bring an adult who will take you home: we cannot start without their name and "
            "phone number."
        ),
        no_driving="Do not drive or use machinery until the next day, after a night's sleep.",
    )


@dataclass(frozen=True)
class ChangePolicy:
    """What the patient may do online with a booked appointment now."""

    may_change: bool  # confirm always; reschedule and cancel only before the cut-off
    change_until: datetime  # local: the cut-off
    cutoff_hours: int
    late: bool  # cancelling now is a late cancellation
    late_cancel_hours: int
    late_cancel_fee: Decimal  # 0: the clinic charges none

    @property
    def fee_applies(self) -> bool:
        return self.late and self.late_cancel_fee > 0


def appointment_change_policy(
    *, appointment: Appointment, now: datetime | None = None
) -> ChangePolicy:
    now = now or timezone.now()
    cutoff_hours = settings.SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS
    late_hours = settings.SCHEDULING_LATE_CANCEL_HOURS
    until = appointment.starts_at - timedelta(hours=cutoff_hours)
    return ChangePolicy(
        may_change=appointment.status == AppointmentStatus.BOOKED and now < until,
        change_until=until.astimezone(appointment.location.tzinfo),
        cutoff_hours=cutoff_hours,
        late=appointment.starts_at - now < timedelta(hours=late_hours),
        late_cancel_hours=late_hours,
        late_cancel_fee=fee_amounts()[FeeKind.LATE_CANCEL],
    )


def appointment_get_for_patient(*, user: User, appointment_id: int | str) -> Appointment:
    """One of the patient's own booked, future appointments (404 for anything else)."""
    if user.role != Role.PATIENT:
        raise Http404
    appointment = (
        appointments_visible_to(user=user)
        .filter(
            pk=appointment_id if str(appointment_id).isdigit() else None,
            status=AppointmentStatus.BOOKED,
            starts_at__gt=timezone.now(),
        )
        .select_related("location", "patient")
        .first()
    )
    if appointment is None:
        raise Http404("No such appointment.")
    return appointment


def reschedule_slots(*, appointment: Appointment, day: date) -> list[datetime]:
    """Free start times on `day` (local) from scheduling's `availability`, less those inside the
    online cut-off and the appointment's own time; local times."""
    tz = appointment.location.tzinfo
    limit = timezone.now() + timedelta(hours=settings.SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS)
    return [
        slot.starts_at.astimezone(tz)
        for slot in availability(location=appointment.location, day=day, kind=appointment.kind)
        if slot.starts_at >= limit and slot.starts_at != appointment.starts_at
    ]


@dataclass(frozen=True)
class NextAppointment:
    appointment: Appointment
    starts: datetime  # local
    instructions: PreVisit
    policy: ChangePolicy


# --- The score trend ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    code: str
    name: str
    chart: SafeString
    home_count: int
    clinic_count: int
    latest_total: int
    latest_band: str


def _trends(*, patient: Patient, tz: object) -> tuple[list[Trend], list[int]]:
    """One chart per instrument the patient has scores for, home check-ins and clinic scores on
    the same line, the instrument's severity bands (scales.md, in the instrument's data file)
    shaded. The active course's primary scale comes first, then PHQ-9, then by code."""
    rows = list(
        Assessment.objects.filter(patient=patient, status=AssessmentStatus.SUBMITTED)
        .select_related("instrument")
        .order_by("completed_at", "pk")
    )
    by_code: dict[str, list[Assessment]] = {}
    for row in rows:
        by_code.setdefault(row.instrument.code, []).append(row)
    if not by_code:
        return [], []
    course = course_active_for_patient(patient=patient)
    first = [course.primary_instrument] if course is not None else []
    order = list(dict.fromkeys([*first, "PHQ-9", *sorted(by_code)]))
    marks = infusion_dates(patient=patient)
    trends = []
    for code in order:
        items = by_code.get(code)
        if not items:
            continue
        spec = items[-1].instrument.spec
        band = spec.band_for(items[-1].total)
        trends.append(
            Trend(
                code=code,
                name=items[-1].instrument.name,
                chart=progress_chart_svg(
                    spec=spec,
                    points=[(a.completed_at, a.total) for a in items],
                    sources=[a.source for a in items],
                    tz=tz,  # type: ignore[arg-type]
                    infusion_dates=marks,
                ),
                home_count=sum(a.source == AssessmentSource.HOME_CHECKIN for a in items),
                clinic_count=sum(a.source != AssessmentSource.HOME_CHECKIN for a in items),
                latest_total=items[-1].total,
                latest_band=band.label if band is not None else "",
            )
        )
    return trends, [a.pk for a in rows]


# --- Documents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    kind: str  # "consent" | "receipt" | "superbill"
    label: str
    on: date
    url: str


def _documents(*, user: User, patient: Patient, tz: object) -> list[Document]:
    """Links to the existing access-checked, audited downloads: the signed consent PDF
    (intake.consent_pdf), receipts (billing.receipt) and superbills (billing.superbill, when the
    clinic issues them, CODE-PX-R3)."""
    documents: list[Document] = []
    signatures = (
        ConsentSignature.objects.filter(patient=patient)
        .exclude(pdf="")
        .select_related("document")
        .order_by("-signed_at", "-pk")[:DOCUMENTS_SHOWN]
    )
    for signature in signatures:
        documents.append(
            Document(
                kind="consent",
                label=f"Signed consent: {signature.document.title} "
                f"(version {signature.document.version})",
                on=signature.signed_at.astimezone(tz).date(),  # type: ignore[arg-type]
                url=reverse("intake:consent_pdf", args=[signature.pk]),
            )
        )
    invoices = invoices_visible_to(user=user).filter(patient=patient)
    payments = (
        Payment.objects.filter(invoice__in=invoices)
        .select_related("invoice")
        .order_by("-recorded_at", "-pk")[:DOCUMENTS_SHOWN]
    )
    for payment in payments:
        what = "Refund receipt" if payment.kind == PaymentKind.REFUND else "Receipt"
        documents.append(
            Document(
                kind="receipt",
                label=f"{what} {payment.number}: ${payment.amount} (invoice "
                f"{payment.invoice.number})",
                on=payment.recorded_at.astimezone(tz).date(),  # type: ignore[arg-type]
                url=reverse("billing:receipt", args=[payment.pk]),
            )
        )
    if settings.BILLING_ISSUE_SUPERBILLS:
        billable = invoices.filter(appointment__isnull=False).exclude(status=InvoiceStatus.VOID)
        for invoice in billable.order_by("-date_of_service", "-pk")[:DOCUMENTS_SHOWN]:
            documents.append(
                Document(
                    kind="superbill",
                    label=f"Superbill for invoice {invoice.number} (for your insurer)",
                    on=invoice.date_of_service,
                    url=reverse("billing:superbill", args=[invoice.pk]),
                )
            )
    return documents


# --- The home ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortalHome:
    patient: Patient
    sections: tuple[tuple[str, str], ...]  # (key, title), in the order shown
    needs: list[Need]
    next_appointment: NextAppointment | None
    trends: list[Trend]
    documents: list[Document]
    # What the page read, for the audit event.
    read: dict[str, list[int]] = field(default_factory=dict)


def portal_home(*, user: User, now: datetime | None = None) -> PortalHome:
    patient = portal_patient(user=user)
    location = patient.home_location
    tz = location.tzinfo
    now = now or timezone.now()
    upcoming = (
        appointments_visible_to(user=user)
        .filter(status=AppointmentStatus.BOOKED, starts_at__gt=now)
        .select_related("location")
        .order_by("starts_at", "pk")
        .first()
    )
    next_appointment = (
        NextAppointment(
            appointment=upcoming,
            starts=upcoming.starts_at.astimezone(upcoming.location.tzinfo),
            instructions=previsit_instructions(appointment=upcoming),
            policy=appointment_change_policy(appointment=upcoming, now=now),
        )
        if upcoming is not None
        else None
    )
    needs, checkin_ids = _needs(user=user, patient=patient, next_appointment=upcoming, tz=tz)
    trends, assessment_ids = _trends(patient=patient, tz=tz)
    documents = _documents(user=user, patient=patient, tz=tz)
    return PortalHome(
        patient=patient,
        sections=tuple((key, SECTION_TITLES[key]) for key in SECTIONS),
        needs=needs,
        next_appointment=next_appointment,
        trends=trends,
        documents=documents,
        read={
            "appointment_ids": [upcoming.pk] if upcoming is not None else [],
            "checkin_ids": checkin_ids,
            "assessment_ids": assessment_ids,
            "documents": [d.url for d in documents],
        },
    )
