"""Clinic analytics for admins (issue 9 item 4): figures over a date range and one or all of the
admin's locations. Read-only and lag-tolerant: every query runs inside
`common.dbrouter.lag_tolerant_reads()`, so a configured read replica serves them.

Definitions (README "Clinic analytics"). Dates are the location's local dates, both ends included;
weeks start on Monday in the location's time zone.

- An **infusion** is an infusion session whose pump was started; it counts on the local date of
  its first pump start.
- **Chair utilization**: open chair-minutes are, for each local date that is not a holiday, the
  opening hours of that weekday times the location's active chairs. Booked chair-minutes are the
  parts of infusion appointments on those chairs (booked, completed or no-show: the chair was held)
  inside the opening hours; used chair-minutes count completed appointments only.
- **Response and remission by indication**: a treatment course counts when its patient had an
  infusion in the range while the course ran (the latest course started before that infusion).
  Baseline = PROT-13 (latest score of the course's primary instrument within the protocol's
  baseline window before the course started); current = the latest score of that instrument after
  the baseline, up to the end of the range. Response and remission are the instrument's own
  definitions (outcomes.scoring, scales.md; PROT-20/21/22). Remission counts only for the
  instruments PROT-22 gives a remission criterion for. A course without a baseline or a later
  score, or whose response is not computable (PROT-20: baseline 0), is "not evaluable" and stays
  out of the rate's denominator.
- **Adverse-event rate**: infusions with at least one recorded side effect (AE-* catalogue) or
  vital-sign alert (monitoring.md thresholds), over infusions.
- **No-show rate**: appointments (all kinds) starting in the range marked no-show, over those
  completed or no-show (cancelled and still-booked ones are not counted).
- **Revenue**: payments minus refunds recorded in the range on the location's invoices (Decimal).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Min, Q, QuerySet, Sum
from django.http import Http404

from infusionclinic.accounts.models import Location, User
from infusionclinic.billing.models import Payment, PaymentKind
from infusionclinic.billing.money import ZERO, cents
from infusionclinic.common.dbrouter import lag_tolerant_reads, read_lag_tolerant
from infusionclinic.common.ids import id_from_path
from infusionclinic.courses.models import Indication, TreatmentCourse
from infusionclinic.courses.proposals import baseline_point
from infusionclinic.infusions.models import (
    InfusionSession,
    PumpAction,
    PumpEvent,
    SideEffect,
    VitalAlert,
)
from infusionclinic.outcomes import scoring
from infusionclinic.outcomes.models import Assessment, AssessmentStatus, InstrumentDefinition
from infusionclinic.scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Chair,
    Holiday,
    OpeningHours,
)

# PROT-22 gives a remission criterion for these instruments only (PCL-5's "below threshold" and
# the pain NRS have none), so remission is not counted for courses on any other primary scale.
PROT22_REMISSION_INSTRUMENTS = frozenset({"PHQ-9", "GAD-7", "MADRS", "QIDS-SR16"})
CHAIR_HOLDING = (AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW)


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def percent(self) -> Decimal | None:
        """Percent to one decimal (half up); None when there is nothing to divide by."""
        if not self.denominator:
            return None
        value = Decimal(self.numerator) * 100 / Decimal(self.denominator)
        return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.numerator + other.numerator, self.denominator + other.denominator)


@dataclass(frozen=True)
class IndicationOutcome:
    indication: str
    label: str
    courses: int
    response: Rate  # responders / courses whose response is evaluable
    remission: Rate  # remitters / courses whose remission is evaluable (PROT-22 instruments)
    not_evaluable: int


@dataclass(frozen=True)
class Revenue:
    payments: Decimal
    refunds: Decimal

    @property
    def net(self) -> Decimal:
        return cents(self.payments - self.refunds)


@dataclass
class ClinicFigures:
    date_from: date
    date_to: date
    locations: list[Location]
    infusions_per_week: list[tuple[date, int]] = field(default_factory=list)
    infusions: int = 0
    chair_booked: Rate = Rate(0, 0)  # chair-seconds booked / open
    chair_used: Rate = Rate(0, 0)  # chair-seconds used / open
    outcomes: list[IndicationOutcome] = field(default_factory=list)
    adverse_events: Rate = Rate(0, 0)  # infusions with a side effect or alert / infusions
    side_effect_infusions: int = 0
    alert_infusions: int = 0
    no_show: Rate = Rate(0, 0)
    revenue: Revenue = Revenue(ZERO, ZERO)

    @property
    def open_chair_minutes(self) -> int:
        return self.chair_booked.denominator // 60

    @property
    def booked_chair_minutes(self) -> int:
        return self.chair_booked.numerator // 60

    @property
    def used_chair_minutes(self) -> int:
        return self.chair_used.numerator // 60


def analytics_locations(*, user: User, location_id: int | str | None) -> list[Location]:
    """The admin's own locations, or the one asked for if it is one of them (404 otherwise)."""
    own = user.locations.order_by("name", "pk")
    if location_id in (None, ""):
        return list(own)
    pk = id_from_path(location_id)
    found = own.filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise Http404("No such location.")
    return [found]


def local_range(location: Location, date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of local dates date_from..date_to at the location."""
    tz = location.tzinfo
    return (
        datetime.combine(date_from, time(0), tzinfo=tz),
        datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=tz),
    )


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _infusion_sessions(location: Location, start: datetime, end: datetime) -> QuerySet:
    """The location's sessions whose first pump start falls in [start, end). Only a session
    with some start in the period can have its first there: that pre-filter reads the period's
    pump starts by index instead of every session the location ever had."""
    started_in_period = PumpEvent.objects.filter(
        action=PumpAction.START, at__gte=start, at__lt=end
    ).values("session_id")
    return (
        InfusionSession.objects.filter(location=location, pk__in=started_in_period)
        .annotate(started=Min("pump__at", filter=Q(pump__action=PumpAction.START)))
        .filter(started__gte=start, started__lt=end)
    )


def _open_windows(
    location: Location, date_from: date, date_to: date
) -> list[tuple[datetime, datetime]]:
    hours = {
        h.weekday: (h.opens_at, h.closes_at) for h in OpeningHours.objects.filter(location=location)
    }
    holidays = set(
        Holiday.objects.filter(location=location, date__range=(date_from, date_to)).values_list(
            "date", flat=True
        )
    )
    tz = location.tzinfo
    windows = []
    day = date_from
    while day <= date_to:
        if day not in holidays and day.weekday() in hours:
            opens, closes = hours[day.weekday()]
            windows.append(
                (datetime.combine(day, opens, tzinfo=tz), datetime.combine(day, closes, tzinfo=tz))
            )
        day += timedelta(days=1)
    return windows


def _overlap_seconds(
    start: datetime, end: datetime, windows: Iterable[tuple[datetime, datetime]]
) -> int:
    total = 0
    for opens, closes in windows:
        lo, hi = max(start, opens), min(end, closes)
        if hi > lo:
            total += int((hi - lo).total_seconds())
    return total


def _chairs(location: Location, date_from: date, date_to: date) -> tuple[Rate, Rate]:
    """(booked, used) chair-seconds over open chair-seconds."""
    chairs = list(Chair.objects.filter(location=location, active=True).values_list("pk", flat=True))
    windows = _open_windows(location, date_from, date_to)
    open_seconds = sum(int((c - o).total_seconds()) for o, c in windows) * len(chairs)
    if not windows or not chairs:
        return Rate(0, open_seconds), Rate(0, open_seconds)
    by_day: dict[date, list[tuple[datetime, datetime]]] = defaultdict(list)
    tz = location.tzinfo
    for opens, closes in windows:
        by_day[opens.astimezone(tz).date()].append((opens, closes))
    booked = used = 0
    rows = Appointment.objects.filter(
        location=location,
        kind=AppointmentKind.INFUSION,
        chair_id__in=chairs,
        status__in=CHAIR_HOLDING,
        starts_at__lt=windows[-1][1],
        ends_at__gt=windows[0][0],
    ).values_list("starts_at", "ends_at", "status")
    for starts_at, ends_at, status in rows:
        first, last = starts_at.astimezone(tz).date(), ends_at.astimezone(tz).date()
        day_windows = [
            w
            for d in range((last - first).days + 1)
            for w in by_day.get(first + timedelta(days=d), [])
        ]
        seconds = _overlap_seconds(starts_at, ends_at, day_windows)
        booked += seconds
        if status == AppointmentStatus.COMPLETED:
            used += seconds
    return Rate(booked, open_seconds), Rate(used, open_seconds)


def _courses_for_infusions(
    infusions: Iterable[tuple[int, int, datetime]],
) -> list[TreatmentCourse]:
    """The course each infusion belonged to: its patient's latest course started before it."""
    by_patient: dict[int, list[datetime]] = defaultdict(list)
    for _, patient_id, started in infusions:
        by_patient[patient_id].append(started)
    courses: dict[int, list[TreatmentCourse]] = defaultdict(list)
    for course in (
        TreatmentCourse.objects.filter(patient_id__in=list(by_patient))
        .select_related("protocol")
        .order_by("patient_id", "-started_at", "-pk")
    ):
        courses[course.patient_id].append(course)
    found: dict[int, TreatmentCourse] = {}
    for patient_id, times in by_patient.items():
        for started in times:
            course = next((c for c in courses[patient_id] if c.started_at <= started), None)
            if course is not None:
                found[course.pk] = course
    return sorted(found.values(), key=lambda c: c.pk)


@dataclass(frozen=True)
class _Point:
    assessment_id: int
    completed_at: datetime
    total: int
    instrument_id: int


def _outcomes(courses: list[TreatmentCourse], end: datetime) -> list[IndicationOutcome]:
    wanted = {(c.patient_id, c.primary_instrument) for c in courses}
    histories: dict[tuple[int, str], list[_Point]] = defaultdict(list)
    specs: dict[int, scoring.InstrumentSpec] = {}
    # Only the columns the figures use: whole rows (answers included) made a chain's location
    # with 25,000 patients sort 14 MB on disk and build ~15,000 model instances.
    rows = (
        Assessment.objects.filter(
            patient_id__in={p for p, _ in wanted},
            instrument__code__in={code for _, code in wanted},
            status=AssessmentStatus.SUBMITTED,
            completed_at__lt=end,
        )
        .order_by("completed_at", "pk")
        .values_list(
            "pk", "patient_id", "instrument__code", "instrument_id", "completed_at", "total"
        )
    )
    for pk, patient_id, code, instrument_id, completed_at, total in rows:
        if (patient_id, code) in wanted:
            histories[(patient_id, code)].append(
                _Point(pk, completed_at, total or 0, instrument_id)
            )
    # Every version of the instruments in use (no query when, like the scores', `wanted` is
    # empty): the count of queries stays the same whatever the data.
    for instrument in InstrumentDefinition.objects.filter(code__in={c for _, c in wanted}):
        specs[instrument.pk] = instrument.spec

    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for course in courses:
        counts = tally[course.indication]
        counts["courses"] += 1
        history = histories.get((course.patient_id, course.primary_instrument), [])
        baseline = baseline_point(
            history,
            started_at=course.started_at,
            window_days=course.protocol.baseline_window_days,
        )  # PROT-13
        later = (
            [p for p in history if p.completed_at > max(baseline.completed_at, course.started_at)]
            if baseline
            else []
        )
        if baseline is None or not later:
            counts["not_evaluable"] += 1
            continue
        current = later[-1]
        result = scoring.outcome(
            specs[current.instrument_id],
            baseline_total=baseline.total,
            total=current.total,
            is_baseline=False,
        )  # PROT-20/21/22 through the instrument's definitions (scales.md)
        if result.response is None:
            counts["not_evaluable"] += 1
            continue
        counts["response_evaluable"] += 1
        counts["responders"] += int(result.response)
        if (
            course.primary_instrument in PROT22_REMISSION_INSTRUMENTS
            and result.remission is not None
        ):
            counts["remission_evaluable"] += 1
            counts["remitters"] += int(result.remission)
    labels = dict(Indication.choices)
    return [
        IndicationOutcome(
            indication=indication,
            label=labels.get(indication, indication),
            courses=counts["courses"],
            response=Rate(counts["responders"], counts["response_evaluable"]),
            remission=Rate(counts["remitters"], counts["remission_evaluable"]),
            not_evaluable=counts["not_evaluable"],
        )
        for indication, counts in sorted(tally.items())
    ]


def _sessions_with(model: type, sessions: QuerySet) -> set[int]:
    # A subquery, not a list of ids: a long range has thousands of sessions.
    return set(
        model.objects.filter(session__in=sessions.values("pk")).values_list("session_id", flat=True)
    )


def clinic_figures(*, locations: list[Location], date_from: date, date_to: date) -> ClinicFigures:
    """Every figure of the analytics page for these locations (already scoped to the admin by
    `analytics_locations`) over local dates date_from..date_to: lag-tolerant reads, computed
    again on the primary if the replica fails them midway."""
    return read_lag_tolerant(
        lambda: _clinic_figures(locations=locations, date_from=date_from, date_to=date_to)
    )


def _clinic_figures(*, locations: list[Location], date_from: date, date_to: date) -> ClinicFigures:
    figures = ClinicFigures(date_from=date_from, date_to=date_to, locations=locations)
    weeks: dict[date, int] = {}
    monday = week_start(date_from)
    while monday <= date_to:
        weeks[monday] = 0
        monday += timedelta(days=7)
    all_infusions: list[tuple[int, int, datetime]] = []
    latest_end: datetime | None = None
    with lag_tolerant_reads():
        for location in locations:
            start, end = local_range(location, date_from, date_to)
            latest_end = max(latest_end, end) if latest_end else end
            sessions = _infusion_sessions(location, start, end)
            infusions = list(sessions.values_list("pk", "patient_id", "started"))
            all_infusions.extend(infusions)
            for _, _, started in infusions:
                weeks[week_start(started.astimezone(location.tzinfo).date())] += 1
            with_effects = _sessions_with(SideEffect, sessions)
            with_alerts = _sessions_with(VitalAlert, sessions)
            figures.infusions += len(infusions)
            figures.side_effect_infusions += len(with_effects)
            figures.alert_infusions += len(with_alerts)
            figures.adverse_events += Rate(len(with_effects | with_alerts), len(infusions))

            booked, used = _chairs(location, date_from, date_to)
            figures.chair_booked += booked
            figures.chair_used += used

            statuses = dict(
                Appointment.objects.filter(
                    location=location,
                    starts_at__gte=start,
                    starts_at__lt=end,
                    status__in=(AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW),
                )
                .values("status")
                .annotate(n=Count("pk"))
                .values_list("status", "n")
            )
            no_shows = statuses.get(AppointmentStatus.NO_SHOW, 0)
            figures.no_show += Rate(
                no_shows, no_shows + statuses.get(AppointmentStatus.COMPLETED, 0)
            )

            money = dict(
                Payment.objects.filter(
                    invoice__location=location, recorded_at__gte=start, recorded_at__lt=end
                )
                .values("kind")
                .annotate(total=Sum("amount"))
                .values_list("kind", "total")
            )
            figures.revenue = Revenue(
                cents(figures.revenue.payments + (money.get(PaymentKind.PAYMENT) or ZERO)),
                cents(figures.revenue.refunds + (money.get(PaymentKind.REFUND) or ZERO)),
            )
        if latest_end is not None:
            figures.outcomes = _outcomes(_courses_for_infusions(all_infusions), latest_end)
    figures.infusions_per_week = sorted(weeks.items())
    return figures
