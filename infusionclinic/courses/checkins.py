"""Check-ins between visits (issue 18 section 2).

Each protocol version lists, per phase, the instruments due between visits and how many days
apart (`Protocol.checkin_schedule`; a course keeps its version). `checkins_dispatch` — run by
`manage.py checkins_due` from cron, or queued as `checkins_due_task` — does three things:

1. creates each check-in that has come due: the k-th one of an instrument falls k periods after
   the phase began, at CHECKINS_DUE_LOCAL_TIME on that local day in the patient's home
   location's zone (so 09:00 stays 09:00 across a DST change); only the current period's, so a
   worker that was down does not mail a backlog;
2. queues the reminder mail of each new check-in and, once, a repeat CHECKINS_REMINDER_REPEAT_HOURS
   later if it is still not done. The task claims the row with a conditional UPDATE, so a task
   run twice sends once;
3. nothing for a course that is paused, completed or discontinued: only courses in induction or
   maintenance get check-ins and reminders.

The mail carries no health information: the clinic's name and a one-time link (Django signing,
TimestampSigner, expiring after CHECKINS_LINK_MAX_AGE_HOURS) that opens the questionnaire after
log-in. A submitted check-in goes through `outcomes.services.assessment_submit` (the one scoring
engine and its SCALE-4 alerts), marked as a home check-in.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import denied
from infusionclinic.common.ids import id_from_path
from infusionclinic.outcomes.models import Assessment, AssessmentSource, AssessmentStatus
from infusionclinic.outcomes.services import assessment_submit
from infusionclinic.patients.models import Patient

from .models import CheckIn, Phase, TreatmentCourse
from .selectors import courses_visible_to
from .services import CHECKIN_EVERY_DAYS_MAX

CHECKIN_PHASES = (Phase.INDUCTION, Phase.MAINTENANCE)
_LINK_SALT = "courses.checkin-link"


# --- When a check-in is due --------------------------------------------------------------------


def checkin_due_at(*, course: TreatmentCourse, due_on: date) -> datetime:
    """The aware UTC instant of CHECKINS_DUE_LOCAL_TIME on `due_on` in the patient's home
    location's zone. zoneinfo gives each local day its own offset, so the week the clocks
    change is still due at 09:00 local."""
    hours, minutes = (int(part) for part in settings.CHECKINS_DUE_LOCAL_TIME.split(":"))
    local = datetime.combine(
        due_on, time(hours, minutes), tzinfo=course.patient.home_location.tzinfo
    )
    return local.astimezone(UTC)


def _current_due_on(course: TreatmentCourse, every_days: int, now: datetime) -> date | None:
    """The due day of the period `now` falls in (the k-th period after the phase began, k >= 1),
    or None before the first one is due."""
    tz = course.patient.home_location.tzinfo
    anchor = course.phase_started_at.astimezone(tz).date()
    k = (now.astimezone(tz).date() - anchor).days // every_days
    while k >= 1:
        due_on = anchor + timedelta(days=k * every_days)
        if checkin_due_at(course=course, due_on=due_on) <= now:
            return due_on
        k -= 1
    return None


def _schedule(course: TreatmentCourse) -> list[tuple[str, int]]:
    rows = (course.protocol.checkin_schedule or {}).get(course.phase) or []
    return [(row["instrument"], int(row["every_days"])) for row in rows]


def checkins_create_due(*, now: datetime | None = None) -> list[CheckIn]:
    """Create the check-ins that have come due (one per course, instrument and period)."""
    now = now or timezone.now()
    created: list[CheckIn] = []
    courses = TreatmentCourse.objects.filter(phase__in=CHECKIN_PHASES).select_related(
        "protocol", "patient__home_location"
    )
    for course in courses:
        for code, every_days in _schedule(course):
            due_on = _current_due_on(course, every_days, now)
            if due_on is None:
                continue
            with transaction.atomic():
                checkin, made = CheckIn.objects.get_or_create(
                    course=course,
                    instrument_code=code,
                    due_on=due_on,
                    defaults={
                        "phase": course.phase,
                        "every_days": every_days,
                        "due_at": checkin_due_at(course=course, due_on=due_on),
                    },
                )
                if made:
                    audit_record(
                        actor=None,
                        action=AuditAction.CREATE,
                        patient=course.patient,
                        obj=checkin,
                        detail={
                            "instrument": code,
                            "due_on": due_on.isoformat(),
                            "protocol": f"{course.protocol.key} v{course.protocol.version}",
                        },
                    )
                    created.append(checkin)
    return created


# --- Reminder mail ------------------------------------------------------------------------------


def checkins_remind_due(*, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """(first reminders, repeats) due now: ids of open check-ins, within their period, of
    patients with an address and an active portal log-in."""
    now = now or timezone.now()
    base = CheckIn.objects.filter(
        completed_at__isnull=True,
        course__phase__in=CHECKIN_PHASES,
        due_at__lte=now,
        # No period is longer than the schedule allows: older rows have closed (bounds the scan).
        due_at__gt=now - timedelta(days=CHECKIN_EVERY_DAYS_MAX),
        course__patient__email__gt="",
        # The link opens the questionnaire after log-in: only patients with a portal account.
        course__patient__user__is_active=True,
    )
    first = [c.pk for c in base.filter(reminder_sent_at__isnull=True) if now < c.closes_at]
    repeat_before = now - timedelta(hours=settings.CHECKINS_REMINDER_REPEAT_HOURS)
    repeats = [
        c.pk
        for c in base.filter(reminder_sent_at__lte=repeat_before, reminder_repeated_at__isnull=True)
        if now < c.closes_at
    ]
    return first, repeats


def checkins_dispatch(*, now: datetime | None = None) -> dict[str, int]:
    """Create what is due and queue the reminders (first and repeat)."""
    now = now or timezone.now()
    created = checkins_create_due(now=now)
    first, repeats = checkins_remind_due(now=now)
    for pk in first:
        send_checkin_reminder_task.enqueue(checkin_id=pk, repeat=False)
    for pk in repeats:
        send_checkin_reminder_task.enqueue(checkin_id=pk, repeat=True)
    return {"created": len(created), "reminders": len(first), "repeats": len(repeats)}


def checkin_link_token(checkin: CheckIn) -> str:
    return signing.TimestampSigner(salt=_LINK_SALT).sign(f"{checkin.pk}.{checkin.link_nonce}")


def checkin_reminder_mail(checkin: CheckIn) -> tuple[str, str]:
    """(subject, body). No health information (issue 18 section 2): no instrument, score or
    course, only the clinic's name and the link, which needs a log-in."""
    clinic = checkin.course.patient.home_location.clinic.name
    url = settings.SCHEDULING_SITE_URL.rstrip("/") + reverse(
        "courses:checkin_open", kwargs={"token": checkin_link_token(checkin)}
    )
    hours = settings.CHECKINS_LINK_MAX_AGE_HOURS
    body = "\n".join(
        [
            f"You have a check-in from {clinic}.",
            "",
            f"Open it here after logging in (the link works once and expires in {hours} hours):",
            url,
            "",
            "After that, log in to the patient portal and open My check-ins.",
        ]
    )
    return f"You have a check-in from {clinic}", body


@task()
def send_checkin_reminder_task(*, checkin_id: int, repeat: bool = False) -> None:
    """Claim, then send. A new link (nonce) each mail: the earlier mail's link stops working."""
    now = timezone.now()
    field = "reminder_repeated_at" if repeat else "reminder_sent_at"
    candidates = CheckIn.objects.filter(
        pk=checkin_id, completed_at__isnull=True, course__phase__in=CHECKIN_PHASES
    ).filter(**{f"{field}__isnull": True})
    if repeat:
        candidates = candidates.filter(reminder_sent_at__isnull=False)
    with transaction.atomic():
        claimed = CheckIn.objects.filter(pk__in=candidates.values("pk")).update(
            **{field: now, "link_nonce": secrets.token_hex(16)}
        )
        if not claimed:
            return  # already sent, done since, or the course stopped
        checkin = CheckIn.objects.select_related("course__patient__home_location__clinic").get(
            pk=checkin_id
        )
        audit_record(
            actor=None,
            action=AuditAction.UPDATE,
            patient=checkin.course.patient,
            obj=checkin,
            detail={"reminder": "repeat" if repeat else "first", "channel": "email"},
        )
    subject, body = checkin_reminder_mail(checkin)
    EmailMultiAlternatives(subject=subject, body=body, to=[checkin.course.patient.email]).send()


@task()
def checkins_due_task() -> dict[str, int]:
    """The periodic run for a worker-side schedule (`manage.py checkins_due --enqueue`)."""
    return checkins_dispatch()


# --- The patient opens and answers a check-in ---------------------------------------------------


class CheckInLinkError(Exception):
    """The link is not (or no longer) valid: expired, used or tampered with."""


def checkin_get_for_patient_user(*, user: User, checkin_id: int | str | None) -> CheckIn:
    """One of the logged-in patient's own check-ins; 404 (and a `denied` event) for anything
    else, another patient's included and every staff log-in."""
    pk = id_from_path(checkin_id)
    patient = getattr(user, "patient", None) if user.role == Role.PATIENT else None
    found = (
        CheckIn.objects.select_related("course__patient__home_location__clinic", "assessment")
        .filter(pk=pk, course__patient=patient)
        .first()
        if pk is not None and patient is not None
        else None
    )
    if found is None:
        raise denied(user, "courses.CheckIn", checkin_id, "No such check-in.")
    return found


def checkin_link_use(*, actor: User, token: str) -> CheckIn:
    """Open the mailed link once: check the signature and age, then clear the nonce it signs
    (a conditional UPDATE, so two clicks at once open it once)."""
    try:
        value = signing.TimestampSigner(salt=_LINK_SALT).unsign(
            token, max_age=timedelta(hours=settings.CHECKINS_LINK_MAX_AGE_HOURS)
        )
    except signing.SignatureExpired as exc:
        raise CheckInLinkError("This link has expired.") from exc
    except signing.BadSignature as exc:
        raise CheckInLinkError("This link is not valid.") from exc
    checkin_id, _, nonce = value.partition(".")
    checkin = checkin_get_for_patient_user(user=actor, checkin_id=checkin_id)
    with transaction.atomic():
        used = (
            CheckIn.objects.filter(pk=checkin.pk, link_nonce=nonce)
            .exclude(link_nonce="")
            .update(link_nonce="")
        )
        if not used:
            raise CheckInLinkError("This link was already used.")
        audit_record(
            actor=actor,
            action=AuditAction.VIEW,
            patient=checkin.course.patient,
            obj=checkin,
            detail={"page": "check-in link", "link_used": True},
        )
    return checkin


def checkin_is_open(checkin: CheckIn) -> bool:
    return checkin.completed_at is None and checkin.course.phase in CHECKIN_PHASES


def checkins_open_for_patient(*, patient: Patient) -> list[CheckIn]:
    """The patient's check-ins still to do (the portal's list), oldest first."""
    return list(
        CheckIn.objects.filter(
            course__patient=patient,
            completed_at__isnull=True,
            course__phase__in=CHECKIN_PHASES,
        ).select_related("course")
    )


def checkin_submit(
    *,
    actor: User,
    checkin: CheckIn,
    answers: Sequence[int | None],
    completed_at: datetime | None = None,
) -> Assessment:
    """Score the check-in with the one engine (outcomes.services.assessment_submit: SCALE-1
    totals, SCALE-4 safety alerts and their mail) and mark it done, in one transaction."""
    with transaction.atomic():
        locked = (
            CheckIn.objects.select_for_update().select_related("course__patient").get(pk=checkin.pk)
        )
        if locked.completed_at is not None:
            raise ValidationError({"__all__": ["This check-in was already sent."]})
        if locked.course.phase not in CHECKIN_PHASES:
            raise ValidationError({"__all__": ["This check-in is no longer due."]})
        assessment = assessment_submit(
            actor=actor,
            patient=locked.course.patient,
            instrument_code=locked.instrument_code,
            answers=answers,
            completed_at=completed_at,
            source=AssessmentSource.HOME_CHECKIN,
        )
        locked.assessment = assessment
        locked.completed_at = assessment.completed_at
        locked.link_nonce = ""
        locked.save(update_fields=["assessment", "completed_at", "link_nonce", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient=locked.course.patient,
            obj=locked,
            detail={"completed": True, "assessment": assessment.pk},
        )
    return assessment


# --- Flags for the prescriber -------------------------------------------------------------------


@dataclass(frozen=True)
class CheckInFlag:
    kind: str  # "worsening" | "missed"
    course: TreatmentCourse
    text: str

    @property
    def patient(self) -> Patient:
        return self.course.patient


def checkin_flags_for_user(*, user: User, now: datetime | None = None) -> list[CheckInFlag]:
    """Flags on the open courses this prescriber may see (issue 18 section 2):
    - worsening: the latest PHQ-9 is CHECKINS_WORSENING_POINTS or more above the one before it
      (clinic or home), the latest taken during the course;
    - missed: no check-in for CHECKINS_MISSED_PERIODS due periods in a row (periods that have
      ended since the last completed check-in of that instrument)."""
    if not user.has_role_perm(Perm.COURSE_MANAGE):
        return []
    now = now or timezone.now()
    courses = list(
        courses_visible_to(user=user)
        .filter(phase__in=CHECKIN_PHASES)
        .select_related("patient")
        .order_by("patient__family_name", "patient__given_name", "pk")
    )
    if not courses:
        return []
    flags: list[CheckInFlag] = []
    last_two: dict[int, list[tuple[int, datetime, str]]] = defaultdict(list)
    for patient_id, total, completed_at, source in (
        Assessment.objects.filter(
            patient__in=[c.patient_id for c in courses],
            instrument__code="PHQ-9",
            status=AssessmentStatus.SUBMITTED,
        )
        .order_by("patient_id", "completed_at", "pk")
        .values_list("patient_id", "total", "completed_at", "source")
    ):
        rows = last_two[patient_id]
        rows.append((total, completed_at, source))
        del rows[:-2]
    by_course: dict[int, list[CheckIn]] = defaultdict(list)
    for checkin in CheckIn.objects.filter(course__in=courses, due_at__lte=now).order_by(
        "due_on", "pk"
    ):
        by_course[checkin.course_id].append(checkin)
    source_label = dict(AssessmentSource.choices)
    for course in courses:
        rows = last_two.get(course.patient_id, [])
        if len(rows) == 2 and rows[1][1] >= course.started_at:
            (before, _, _), (latest, when, source) = rows
            if latest - before >= settings.CHECKINS_WORSENING_POINTS:
                flags.append(
                    CheckInFlag(
                        "worsening",
                        course,
                        f"PHQ-9 up {latest - before} ({before} → {latest}, "
                        f"{source_label.get(source, source)}, {when:%Y-%m-%d})",
                    )
                )
        per_code: dict[str, list[CheckIn]] = defaultdict(list)
        for checkin in by_course.get(course.pk, []):
            per_code[checkin.instrument_code].append(checkin)
        for code, rows_ in per_code.items():
            done = [i for i, c in enumerate(rows_) if c.completed_at is not None]
            trailing = rows_[done[-1] + 1 :] if done else rows_
            missed = [c for c in trailing if c.closes_at <= now]
            if len(missed) >= settings.CHECKINS_MISSED_PERIODS:
                flags.append(
                    CheckInFlag(
                        "missed",
                        course,
                        f"No {code} check-in for {len(missed)} due periods (due "
                        + ", ".join(f"{c.due_on:%Y-%m-%d}" for c in missed)
                        + ")",
                    )
                )
    return flags
