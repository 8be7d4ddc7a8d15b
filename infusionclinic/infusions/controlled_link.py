"""The controlled-substance log as part of the infusion session (issue 21 point 6;
controlled-substances.md CS-4, CS-31, CS-32, CS-33, CS-42, CS-43, CS-44).

- Before "Start infusion": a current DEA registration for the session's location (§4
  `Registration`, CS-4) and a draw from a lot linked to this session (CS-31, CS-42):
  `start_problems`.
- The session page draws from a lot (`session_draw`, the controlled app's `draw_record` naming this
  session), records the administration defaulting to the pump's dose given (`infusions.dose`,
  CS-32) and the witnessed waste of the rest (CS-33, CS-44: the witness re-authenticates).
- Discharge and note signing are refused while `infusions.dose.session_dose_check` names a
  difference (CS-31, CS-32, CS-42, CS-43), unless a prescriber recorded a documented exception
  covering exactly those differences (`services.session_cs_exception_record`; audited; in the
  note)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_UP, Decimal
from typing import Any

from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.controlled import compliance
from infusionclinic.controlled import selectors as cs_selectors
from infusionclinic.controlled import services as cs_services
from infusionclinic.controlled.models import LedgerEntry, Lot

from .dose import DoseProblem, session_dose_check, session_draws
from .models import InfusionSession, SessionState

S = SessionState
EXCEPTION_STATES = (S.RECOVERING, S.DISCHARGED)
EXCEPTION_REASON_MIN = 10  # characters: a sentence, not "ok"


# --- Reads -----------------------------------------------------------------------------------


def start_problems(session: InfusionSession) -> list[str]:
    """What stands between this session and "Start infusion" in the controlled-substance log:
    the location's DEA registration (missing or expired; one expiring soon still counts) and a
    draw linked to this session."""
    problems: list[str] = []
    status = compliance.registration_status(location=session.location)
    if status.state in ("missing", "expired"):
        problems.append(
            f"CS-4: {status.message} An admin records the location's current DEA registration "
            "before ketamine is given here."
        )
    if not session_draws(session):
        problems.append(
            "CS-31, CS-42: no controlled-substance draw is linked to this session: draw the dose "
            "from a lot (below) before the start."
        )
    return problems


def _covered(session: InfusionSession) -> set[tuple[str, str]]:
    return {
        (str(rule_id), str(message))
        for exception in session.cs_exceptions.all()
        for rule_id, message in exception.problems
    }


def open_problems(session: InfusionSession) -> list[DoseProblem]:
    """The log's differences for this session not covered by a prescriber's exception."""
    covered = _covered(session)
    return [
        p for p in session_dose_check(session).problems if (p.rule_id, p.message) not in covered
    ]


HINT = (
    "Record the administration and the witnessed waste on the session page, or a prescriber "
    "records a documented exception."
)


def discharge_problems(session: InfusionSession) -> list[str]:
    """CS-31/32/42/43 at discharge: every dose administered or wasted (witnessed), matching the
    pump's dose given, or an exception."""
    problems = [f"{p.rule_id}: {p.message}" for p in open_problems(session)]
    return [*problems, HINT] if problems else []


def note_sign_problems(session: InfusionSession) -> list[str]:
    problems = [f"{p.rule_id}: {p.message}" for p in open_problems(session)]
    if problems:
        problems.append(
            "The controlled-substance log differs from the session: the note is not signed "
            "until it is resolved or a prescriber records a documented exception."
        )
    return problems


@dataclass(frozen=True)
class DrawLot:
    lot: Lot
    balance_ml: Decimal
    order_ml: Decimal  # the order's dose in mL of this lot's strength, rounded up to 0.01 mL

    @property
    def label(self) -> str:
        strength = self.lot.product.strength_mg_per_ml.normalize()
        return (
            f"Lot {self.lot.lot_number} — {self.lot.product.name}, {strength:f} mg/mL, "
            f"{self.balance_ml} mL on hand (expires {self.lot.expiry}); "
            f"the order's dose = {self.order_ml} mL"
        )


def draw_lots(session: InfusionSession) -> list[DrawLot]:
    """Lots of the session's location a draw may come from: stock on hand, not expired (the
    controlled app checks the rest: quarantine, beyond-use date)."""
    today = timezone.localdate(timezone=session.location.tzinfo)
    dose_mg = Decimal(str(session.order.dose_mg))
    found = []
    for lot in cs_selectors.lots_at(location=session.location).order_by("expiry", "pk"):
        balance = cs_services.balance_ml(lot)
        if balance <= 0 or lot.expiry < today:
            continue
        order_ml = (dose_mg / lot.product.strength_mg_per_ml).quantize(
            Decimal("0.01"), rounding=ROUND_UP
        )
        found.append(DrawLot(lot=lot, balance_ml=balance, order_ml=order_ml))
    return found


# --- Writes ----------------------------------------------------------------------------------


def session_draw(*, actor: User, session: InfusionSession, lot_id: Any, qty_ml: Any) -> LedgerEntry:
    """CS-31, CS-42: draw this session's dose from a lot of its location: the controlled app's
    `draw_record` (capability, signed current order, open encounter, expiry, quarantine, BUD,
    balance; its ledger entry and audit event in one transaction), linked to this session."""
    lot = cs_selectors.lot_get_for_user(user=actor, location=session.location, lot_id=lot_id)
    return cs_services.draw_record(
        actor=actor, lot=lot, order=session.order, qty_ml=qty_ml, session=session
    )


def note_exception_lines(session: InfusionSession) -> list[str]:
    tz = session.location.tzinfo
    lines = []
    for exception in session.cs_exceptions.select_related("recorded_by"):
        lines.append(
            f"  DOCUMENTED EXCEPTION by {exception.recorded_by} "
            f"{exception.recorded_at.astimezone(tz):%Y-%m-%d %H:%M}: {exception.reason}"
        )
        lines += [f"    covers {rule_id}: {message}" for rule_id, message in exception.problems]
    return lines
