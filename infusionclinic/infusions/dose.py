"""The dose given of an infusion session, and its one owner (issue 22 point 10).

Every figure of "dose given" comes from here: the session page, its note, discharge sheet and API
(infusions), the invoice's infusion codes (billing reads `pump_record`'s running time,
CODE-PX-R1), FHIR's MedicationAdministration and the progress report. The pump record is the
source: the running time from each start/resume to the next pause/stop (pauses excluded) × the
order's rate × concentration (RATE-7 reversed, `rules.dose_given_mg`).

The controlled-substance log (controlled-substances.md) records the same dose a second time, by
hand: a `draw` (CS-31) into a dose, then `administer` (CS-32, "may be less than drawn (infusion
stopped early)") and `waste` (CS-33) out of it, and every dose closes with administered + wasted =
drawn (CS-43, exact Decimal). Here the two meet: `session_dose_check` sets the log's
administration beside the pump's dose given and names every difference beyond the ledger's
rounding (half a 0.01 mL step of the strongest drawn vial, plus
`CONTROLLED_ADMINISTRATION_TOLERANCE_MG`, default 0) by rule id, for the session page, its note,
discharge, the session API and the ledger page (`ledger_disagreements`). The pump's figure stays
the dose given every reader reports; a disagreement is shown beside it, never silently replaced.

`administration_suggestion` is the pump's dose in mL of the drawn vial's strength (what the
administration form and API default to). The controlled app reaches infusions only through this
module (and `models`): it imports nothing of the controlled app but its models, settings and
ledger reads, so neither app imports the other's services (no import circle). Reads only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from infusionclinic.accounts.models import Location
from infusionclinic.common.access import denied
from infusionclinic.controlled import conf
from infusionclinic.controlled.ledger import ML_STEP, dose_remaining_ml
from infusionclinic.controlled.models import EntryKind, LedgerEntry

from . import rules
from .models import InfusionSession, PumpAction, SessionState

# --- The pump record: the one computation of the dose given -------------------------------------


@dataclass(frozen=True)
class PumpRecord:
    """What the pump record of a session documents: the first start, the stop (None while the
    pump runs or is paused), the running time (pauses excluded; up to the stop, or to `now`
    while it runs) and the dose given from it."""

    session_id: int
    started_at: datetime | None
    stopped_at: datetime | None
    running_seconds: Decimal
    dose_mg: Decimal

    @property
    def started(self) -> bool:
        return self.started_at is not None

    @property
    def stopped(self) -> bool:
        return self.stopped_at is not None

    @property
    def running(self) -> timedelta:
        return timedelta(seconds=float(self.running_seconds))

    @property
    def running_min(self) -> Decimal:
        return (self.running_seconds / 60).quantize(Decimal("0.1"))


def pump_events(session: InfusionSession) -> list[tuple[str, datetime]]:
    return [(e.action, e.at) for e in session.pump.all()]


def dose_from_seconds(session: InfusionSession, seconds: Decimal) -> Decimal:
    """The order's rate × concentration over `seconds` of running time, to 0.1 mg."""
    return rules.dose_given_mg(
        seconds=seconds,
        rate_ml_per_h=session.order.rate_ml_per_h,
        concentration_mg_per_ml=session.order.concentration_mg_per_ml,
    )


def pump_record(
    session: InfusionSession,
    *,
    now: datetime | None = None,
    events: list[tuple[str, datetime]] | None = None,
) -> PumpRecord:
    """The session's pump record (`events` when the caller already holds them, in time order)."""
    events = pump_events(session) if events is None else events
    starts = [at for action, at in events if action == PumpAction.START]
    last = events[-1] if events else None
    stopped_at = last[1] if last is not None and last[0] == PumpAction.STOP else None
    seconds = rules.running_seconds(events, now=stopped_at or now or timezone.now())
    return PumpRecord(
        session_id=session.pk,
        started_at=starts[0] if starts else None,
        stopped_at=stopped_at,
        running_seconds=seconds,
        dose_mg=dose_from_seconds(session, seconds),
    )


def dose_given_mg(session: InfusionSession, *, now: datetime | None = None) -> Decimal:
    """The dose given so far (the pump's running time × rate × concentration), to 0.1 mg."""
    return pump_record(session, now=now).dose_mg


# --- The encounter a draw is made for (CS-42) -----------------------------------------------------

OPEN_STATES = (
    SessionState.CHECKED_IN,
    SessionState.PRE_CHECKS,
    SessionState.INFUSING,
    SessionState.PAUSED,
)


def open_session_for_order(*, order_id: int, location: Location) -> InfusionSession | None:
    """CS-42: the open encounter a controlled-substance draw needs: a session of this order at
    this location, checked in and not yet past the infusion (no drawing for a finished one)."""
    return (
        InfusionSession.objects.filter(order_id=order_id, location=location, state__in=OPEN_STATES)
        .order_by("-pk")
        .first()
    )


def open_session_get(*, session_id: int, order_id: int, location_id: int) -> InfusionSession | None:
    """The named session, as it is now, if it is an open encounter of this order here (CS-42)."""
    return InfusionSession.objects.filter(
        pk=session_id, order_id=order_id, location_id=location_id, state__in=OPEN_STATES
    ).first()


# --- The controlled-substance log beside the pump -------------------------------------------------

ZERO = Decimal(0)


def pump_dose_mg(session: InfusionSession, *, now: datetime | None = None) -> Decimal:
    """The pump's dose given (the figure every reader reports; `pump_record`)."""
    return dose_given_mg(session, now=now)


def infusion_over(session: InfusionSession) -> bool:
    """The pump will run no more: stopped (recovering, discharged) or the visit ended without."""
    return session.infusion_ended_at is not None or session.state in (
        "recovering",
        "discharged",
        "cancelled",
        "no_show",
    )


def session_draws(session: InfusionSession) -> list[LedgerEntry]:
    return list(
        LedgerEntry.objects.filter(session=session, kind=EntryKind.DRAW)
        .select_related("lot__product")
        .prefetch_related("dose_entries")
        .order_by("pk")
    )


def session_draw_get(*, session: InfusionSession, draw_id: int, user: Any) -> LedgerEntry:
    """One draw of this session (the session comes from `session_get_for_user`); any other id
    answers 404 with a `denied` event."""
    draw = (
        LedgerEntry.objects.select_related("lot__product", "lot__location", "patient", "order")
        .filter(session=session, kind=EntryKind.DRAW, pk=draw_id)
        .first()
    )
    if draw is None:
        raise denied(user, "controlled.LedgerEntry", draw_id, "No such draw in this session.")
    return draw


def _used_ml(draw: LedgerEntry, kind: str) -> Decimal:
    # Summed in Python from the prefetched rows: exact Decimal (CS-43).
    return sum((e.qty_ml for e in draw.dose_entries.all() if e.kind == kind), ZERO)


def _mg(ml: Decimal, draw: LedgerEntry) -> Decimal:
    return ml * draw.concentration_mg_per_ml  # CS-48


@dataclass(frozen=True)
class Suggestion:
    """What the administration of `draw` defaults to: the pump's dose given not yet entered as
    administered from the session's draws, in mL of this vial's strength (exact, then rounded
    half-up to the ledger's 0.01 mL), never more than the dose has left (CS-41, CS-43)."""

    draw_id: int
    session_id: int
    pump_mg: Decimal
    already_administered_mg: Decimal
    exact_ml: Decimal  # (pump − already administered) ÷ concentration, unrounded
    qty_ml: Decimal  # the default: exact_ml at 0.01 mL, capped by what the dose has left
    capped: bool  # the pump gave more than this dose has left
    concentration_mg_per_ml: Decimal


def administration_suggestion(
    draw: LedgerEntry, *, now: datetime | None = None
) -> Suggestion | None:
    """None for a draw without an infusion session (recorded before the link, or not a draw)."""
    if draw.kind != EntryKind.DRAW or draw.session_id is None:
        return None
    session = draw.session
    pump_mg = pump_dose_mg(session, now=now)
    administered_mg = sum(
        (
            e.qty_mg
            for e in LedgerEntry.objects.filter(
                dose__session=session, kind=EntryKind.ADMINISTRATION
            ).only("qty_mg")
        ),
        ZERO,
    )
    return _suggestion(
        draw,
        session_id=session.pk,
        pump_mg=pump_mg,
        administered_mg=administered_mg,
        remaining_ml=dose_remaining_ml(draw),
    )


def _suggestion(
    draw: LedgerEntry,
    *,
    session_id: int,
    pump_mg: Decimal,
    administered_mg: Decimal,
    remaining_ml: Decimal,
) -> Suggestion:
    concentration = draw.concentration_mg_per_ml
    exact_ml = max(pump_mg - administered_mg, ZERO) / concentration
    rounded = exact_ml.quantize(ML_STEP, rounding=ROUND_HALF_UP)
    return Suggestion(
        draw_id=draw.pk,
        session_id=session_id,
        pump_mg=pump_mg,
        already_administered_mg=administered_mg,
        exact_ml=exact_ml,
        qty_ml=min(rounded, remaining_ml),
        capped=rounded > remaining_ml,
        concentration_mg_per_ml=concentration,
    )


@dataclass(frozen=True)
class DoseLine:
    draw: LedgerEntry
    drawn_ml: Decimal
    administered_ml: Decimal
    wasted_ml: Decimal
    open_ml: Decimal  # neither administered nor wasted yet (CS-43)

    @property
    def drawn_mg(self) -> Decimal:
        return _mg(self.drawn_ml, self.draw)

    @property
    def administered_mg(self) -> Decimal:
        return _mg(self.administered_ml, self.draw)

    @property
    def wasted_mg(self) -> Decimal:
        return _mg(self.wasted_ml, self.draw)

    @property
    def open_mg(self) -> Decimal:
        return _mg(self.open_ml, self.draw)


@dataclass(frozen=True)
class DoseProblem:
    rule_id: str
    message: str


@dataclass(frozen=True)
class SessionDoseCheck:
    """The session's drawn doses beside the pump's dose given, with every difference named."""

    lines: list[DoseLine]
    pump_mg: Decimal
    infusion_over: bool
    problems: list[DoseProblem] = field(default_factory=list)

    @property
    def drawn_mg(self) -> Decimal:
        return sum((line.drawn_mg for line in self.lines), ZERO)

    @property
    def administered_mg(self) -> Decimal:
        return sum((line.administered_mg for line in self.lines), ZERO)

    @property
    def wasted_mg(self) -> Decimal:
        return sum((line.wasted_mg for line in self.lines), ZERO)

    @property
    def open_mg(self) -> Decimal:
        return sum((line.open_mg for line in self.lines), ZERO)

    @property
    def mismatch(self) -> bool:
        return bool(self.problems)

    @property
    def ledger_disagrees(self) -> bool:
        """CS-32: the log's administration and the pump's dose given differ beyond rounding."""
        return any(p.rule_id == "CS-32" for p in self.problems)

    def which_lines(self) -> list[str]:
        """Which figure is the dose given and what the log says beside it (the note, the
        discharge sheet): the pump's figure is reported; a disagreeing log is named."""
        if not self.lines:
            return [f"Dose given {_fmt(self.pump_mg)} mg is the pump's record; no draw is linked."]
        if self.ledger_disagrees:
            return [
                f"Dose given {_fmt(self.pump_mg)} mg is the pump's record; the "
                f"controlled-substance log's administration ({_fmt(self.administered_mg)} mg) "
                f"DISAGREES by {_fmt(abs(self.difference_mg))} mg (CS-32)."
            ]
        return [
            f"Dose given {_fmt(self.pump_mg)} mg is the pump's record; the controlled-substance "
            f"log's administration ({_fmt(self.administered_mg)} mg) agrees within rounding."
        ]

    @property
    def difference_mg(self) -> Decimal:
        """Administered in the log minus the pump's dose given (negative: less in the log)."""
        return self.administered_mg - self.pump_mg

    def suggestion(self, line: DoseLine) -> Suggestion:
        """`administration_suggestion` for one of these draws, from what the check has read."""
        return _suggestion(
            line.draw,
            session_id=line.draw.session_id,
            pump_mg=self.pump_mg,
            administered_mg=self.administered_mg,
            remaining_ml=line.open_ml,
        )


def _fmt(mg: Decimal) -> str:
    """mg for a message: exact, without trailing zeros beyond one decimal."""
    text = f"{mg.normalize():f}"
    return text if "." in text else f"{text}.0"


def session_dose_check(
    session: InfusionSession, *, now: datetime | None = None
) -> SessionDoseCheck:
    """CS-32, CS-43, CS-31 against the pump. While the pump may still run, only what is already
    certain is named (more administered than the pump gave so far); once the infusion is over,
    the log's administration must equal the pump's dose given (within the ledger's 0.01 mL step
    and `CONTROLLED_ADMINISTRATION_TOLERANCE_MG`, default 0), every dose must be closed, and the
    pump cannot have given more than was drawn."""
    lines = []
    for draw in session_draws(session):
        administered = _used_ml(draw, EntryKind.ADMINISTRATION)
        wasted = _used_ml(draw, EntryKind.WASTE)
        # Corrections of a dose (adjustment entries pointing at it) also count as used (CS-43).
        other = sum(
            (
                e.qty_ml
                for e in draw.dose_entries.all()
                if e.kind not in (EntryKind.ADMINISTRATION, EntryKind.WASTE)
            ),
            ZERO,
        )
        lines.append(
            DoseLine(
                draw=draw,
                drawn_ml=draw.qty_ml,
                administered_ml=administered,
                wasted_ml=wasted,
                open_ml=draw.qty_ml - administered - wasted - other,
            )
        )
    pump_mg = pump_dose_mg(session, now=now)
    over = infusion_over(session)
    check = SessionDoseCheck(lines=lines, pump_mg=pump_mg, infusion_over=over)
    problems = check.problems
    # The ledger records whole 0.01 mL: half a step of the strongest drawn vial is rounding.
    rounding_mg = max(
        (ML_STEP / 2 * line.draw.concentration_mg_per_ml for line in lines), default=ZERO
    )
    allowed_mg = rounding_mg + conf.administration_tolerance_mg()
    if not lines:
        if pump_mg > 0:
            problems.append(
                DoseProblem(
                    "CS-42",
                    f"The pump gave {_fmt(pump_mg)} mg but no controlled-substance draw is "
                    "linked to this session.",
                )
            )
        return check
    administered, drawn = check.administered_mg, check.drawn_mg
    if administered - pump_mg > allowed_mg:
        problems.append(
            DoseProblem(
                "CS-32",
                f"The controlled-substance log records {_fmt(administered)} mg administered, "
                f"more than the pump's dose given of {_fmt(pump_mg)} mg "
                f"(difference {_fmt(administered - pump_mg)} mg).",
            )
        )
    if over:
        if pump_mg - drawn > allowed_mg:
            problems.append(
                DoseProblem(
                    "CS-31",
                    f"The pump gave {_fmt(pump_mg)} mg but only {_fmt(drawn)} mg was drawn "
                    "for this session: a draw is missing from the log.",
                )
            )
        if pump_mg - administered > allowed_mg:
            problems.append(
                DoseProblem(
                    "CS-32",
                    f"The controlled-substance log records {_fmt(administered)} mg "
                    f"administered but the pump gave {_fmt(pump_mg)} mg "
                    f"(difference {_fmt(pump_mg - administered)} mg).",
                )
            )
        for line in lines:
            if line.open_ml != 0:
                problems.append(
                    DoseProblem(
                        "CS-43",
                        f"Draw #{line.draw.pk} (lot {line.draw.lot.lot_number}): "
                        f"{line.open_ml} mL ({_fmt(line.open_mg)} mg) neither administered nor "
                        "wasted.",
                    )
                )
    return check


@dataclass(frozen=True)
class Disagreement:
    """A session whose log disagrees with its pump (the ledger page's warning)."""

    session: InfusionSession
    check: SessionDoseCheck
    covered: bool  # a prescriber recorded a documented exception for every difference


def ledger_disagreements(*, entries: list[LedgerEntry]) -> list[Disagreement]:
    """The sessions among these ledger entries' (draws and their administrations) whose log's
    administration disagrees with the pump's dose given (CS-32) once the infusion is over, most
    recent first."""
    session_ids = {e.session_id for e in entries if e.session_id is not None}
    dose_ids = {e.dose_id for e in entries if e.dose_id is not None}
    session_ids |= set(
        LedgerEntry.objects.filter(pk__in=dose_ids, session__isnull=False).values_list(
            "session_id", flat=True
        )
    )
    out = []
    sessions = (
        InfusionSession.objects.filter(pk__in=session_ids)
        .select_related("order", "patient")
        .prefetch_related("pump", "cs_exceptions")
        .order_by("-pk")
    )
    for session in sessions:
        check = session_dose_check(session)
        if not (check.infusion_over and check.ledger_disagrees):
            continue
        covered_keys = {
            (str(rule_id), str(message))
            for exception in session.cs_exceptions.all()
            for rule_id, message in exception.problems
        }
        covered = all((p.rule_id, p.message) in covered_keys for p in check.problems)
        out.append(Disagreement(session=session, check=check, covered=covered))
    return out
