"""A drawn dose set against the infusion session it was drawn for (controlled-substances.md
CS-31, CS-32, CS-43, §4 `Dose`; monitoring.md: the dose given from the pump's running time).

The session computes the dose given from the pump (`infusions.selectors.dose_given_mg`); the
ledger's administration of the session's draw is typed separately. Here the two meet:
`administration_suggestion` is the pump's dose in mL of the drawn vial's strength (what the
administration form and API default to), and `session_dose_check` names every difference between
the log and the pump, for the session page, the session note and the session API. Reads only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from . import conf
from .models import EntryKind, LedgerEntry

if TYPE_CHECKING:
    from infusionclinic.infusions.models import InfusionSession

ML_STEP = Decimal("0.01")  # the ledger's resolution (LedgerEntry.qty_ml)
ZERO = Decimal(0)


def pump_dose_mg(session: InfusionSession, *, now: datetime | None = None) -> Decimal:
    from infusionclinic.infusions.selectors import dose_given_mg

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
    from django.http import Http404

    from infusionclinic.audit.models import AuditAction
    from infusionclinic.audit.services import audit_record

    draw = (
        LedgerEntry.objects.select_related("lot__product", "lot__location", "patient", "order")
        .filter(session=session, kind=EntryKind.DRAW, pk=draw_id)
        .first()
    )
    if draw is None:
        audit_record(
            actor=user,
            action=AuditAction.DENIED,
            detail={"object_type": "controlled.LedgerEntry", "requested_id": str(draw_id)[:64]},
        )
        raise Http404("No such draw in this session.")
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
    from .services import dose_remaining_ml

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
