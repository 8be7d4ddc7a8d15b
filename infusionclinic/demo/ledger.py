"""The demo's controlled-substance ledger (issue 21 point 1), kept by `demo/visits.py` as it
builds the visits: per location, lots received when the stock runs short, a draw per session, the
pump's administration, witnessed waste, a vial past its beyond-use date destroyed on Form 41,
close-of-business counts and one discrepancy resolved after a recount by two. Only services."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from infusionclinic.accounts.models import Location, User
from infusionclinic.controlled import compliance
from infusionclinic.controlled import services as controlled
from infusionclinic.controlled.bud import open_vial
from infusionclinic.controlled.models import CountMethod, Discrepancy, LedgerEntry, Lot, Product
from infusionclinic.demo import data
from infusionclinic.dosing.models import DosingOrder
from infusionclinic.infusions import rules
from infusionclinic.infusions.models import InfusionSession

if TYPE_CHECKING:
    from .visits import Staff

# CS-23: a listed product (Ketalar 10 mg/mL × 20 mL multiple-dose vials), received 10 a carton.
PRODUCT = {
    "ndc": "42023-113-10",
    "name": "Ketalar (ketamine HCl injection)",
    "strength_mg_per_ml": Decimal("10"),
    "container_ml": Decimal("20"),
}
VIALS_PER_RECEIPT = 10
SUPPLIER = ("Example Wholesale Drug Co.", "RE1234563")


def _at(day: date, clock: time, location: Location) -> datetime:
    return datetime.combine(day, clock, tzinfo=location.tzinfo)


def _local(at: datetime, location: Location) -> datetime:
    return at.astimezone(location.tzinfo)


class Ledger:
    """Per location: lots received when the stock runs short (CS-30, storage CS-9), a draw per
    session (CS-31, CS-42), the pump's administration (CS-32), witnessed waste (CS-33, CS-44),
    a vial past its beyond-use date destroyed on Form 41 (CS-25, CS-17), daily counts (CS-39,
    R2) and one discrepancy resolved after a recount by two (§7)."""

    def __init__(self, staff: Staff) -> None:
        self.staff = staff
        self.product = controlled.product_get_or_create(
            ndc=PRODUCT["ndc"],
            name=PRODUCT["name"],
            strength_mg_per_ml=PRODUCT["strength_mg_per_ml"],
            container_ml=PRODUCT["container_ml"],
        )
        self.discrepancy_done = Discrepancy.objects.exists()
        self.days_counted = 0

    def _lots(self, location: Location) -> list[Lot]:
        return list(
            Lot.objects.filter(location=location, product=self.product)
            .select_related("product", "location")
            .order_by("expiry", "pk")
        )

    def _receive(self, location: Location, at: datetime, actor: User) -> Lot:
        number = Lot.objects.filter(location=location).count() + 1
        received = _at(_local(at, location).date(), time(7, 45), location)
        entry = controlled.receipt_record(
            actor=actor,
            location=location,
            product=self.product,
            lot_number=f"{location.code[:3].upper()}-K{number:03d}",
            expiry=received.date() + timedelta(days=540),
            containers=VIALS_PER_RECEIPT,
            supplier=SUPPLIER[0],
            supplier_dea=SUPPLIER[1],
            invoice_number=f"INV-{location.code[:3].upper()}-{received:%y%m%d}-{number}",
            received_at=min(received, at - timedelta(minutes=5)),
            storage="Locked cabinet, medication room (double lock)",
        )
        return entry.lot

    def _other(self, actor: User, location: Location, exclude: tuple[int, ...] = ()) -> User:
        licensed = [*self.staff.nurses.get(location.pk, []), self.staff.prescriber]
        return next(u for u in licensed if u.pk != actor.pk and u.pk not in exclude)

    def _past_bud(self, lot: Lot, actor: User, at: datetime) -> None:
        """CS-25: the open vial's remainder past its beyond-use date goes on Form 41 (CS-17)."""
        vial = open_vial(lot)
        if vial is None or not vial.past_bud(at):
            return
        first = self._other(actor, lot.location)
        second = self._other(actor, lot.location, exclude=(first.pk,))
        compliance.destruction_record(
            actor=actor,
            location=lot.location,
            lines=[(lot, vial.remaining_ml)],
            method="Drug disposal pouch (non-retrievable, CS-19)",
            place="Medication room",
            witness_1_email=first.email,
            witness_1_secret=data.DEMO_PASSWORD,
            witness_2_email=second.email,
            witness_2_secret=data.DEMO_PASSWORD,
            occurred_at=at - timedelta(minutes=2),
        )

    def draw(self, session: InfusionSession, qty_ml: Decimal, actor: User, at: datetime):  # noqa: ANN201
        location = session.location
        lot = next(
            (lot for lot in self._lots(location) if controlled.balance_ml(lot) >= qty_ml), None
        )
        if lot is None:
            lot = self._receive(location, at, actor)
        self._past_bud(lot, actor, at)
        if controlled.balance_ml(lot) < qty_ml:
            lot = self._receive(location, at, actor)
        return controlled.draw_record(
            actor=actor, lot=lot, order=session.order, qty_ml=qty_ml, occurred_at=at
        )

    def close_dose(self, draw: LedgerEntry, actor: User, at: datetime) -> None:
        """The pump's dose given as administered (its default); the rest wasted, witnessed."""
        controlled.administration_record(actor=actor, draw=draw, occurred_at=at)
        left = controlled.dose_remaining_ml(draw)
        if left > 0:
            witness = self._other(actor, draw.lot.location)
            controlled.waste_record(
                actor=actor,
                draw=draw,
                qty_ml=left,
                reason="Remainder in the syringe and bag, squirted into a disposal pouch.",
                witness_email=witness.email,
                witness_secret=data.DEMO_PASSWORD,
                occurred_at=at + timedelta(minutes=3),
            )

    def day_end(self, location_id: int, day: date) -> None:
        """R2, CS-39: the day's count of every lot in stock; once, a miscount resolved (§7)."""
        location = Location.objects.get(pk=location_id)
        nurses = self.staff.nurses[location.pk]
        counter = nurses[0]
        at = _at(day, time(17, 45), location)
        self.days_counted += 1
        for lot in self._lots(location):
            balance = controlled.balance_ml(lot)
            moved = lot.entries.filter(occurred_at__gte=at - timedelta(1)).exists()
            if balance <= 0 and not moved:
                continue
            miscount = not self.discrepancy_done and self.days_counted >= 6 and balance >= 5
            counted = balance - Decimal("1.00") if miscount else balance
            count = controlled.count_record(
                actor=counter,
                lot=lot,
                counted_ml=counted,
                method=CountMethod.EXACT,
                note="Close-of-business count.",
                at=at,
            )
            if miscount:
                self._resolve(count, counter, balance, at)
                self.discrepancy_done = True

    def _resolve(self, count: Any, counter: User, balance: Decimal, at: datetime) -> None:
        discrepancy = Discrepancy.objects.get(count=count)
        second = self._other(counter, count.lot.location)
        controlled.discrepancy_recount(
            actor=counter,
            discrepancy=discrepancy,
            first_count_ml=balance,
            second_count_ml=balance,
            second_counter_email=second.email,
            second_counter_secret=data.DEMO_PASSWORD,
            at=at + timedelta(minutes=10),
        )
        discrepancy = controlled.discrepancy_investigate(
            actor=counter,
            discrepancy=discrepancy,
            notes=(
                "Recount by two found the ledger balance: the open vial's graduations were "
                "misread in the first count (1.00 mL). Every entry of the day traced to its "
                "session."
            ),
        )
        controlled.discrepancy_close(
            actor=counter,
            discrepancy=discrepancy,
            outcome="resolved",
            reason="Documentation error in the count; no loss (§7 step 4).",
            at=at + timedelta(minutes=30),
        )
        controlled.count_record(
            actor=counter,
            lot=count.lot,
            counted_ml=balance,
            method=CountMethod.EXACT,
            note="Count after the discrepancy was resolved.",
            at=at + timedelta(minutes=31),
        )


def pump_ml(order: DosingOrder, running: timedelta, product: Product) -> Decimal:
    """mL of the vial the pump gives in `running` (the dose given, RATE-7 reversed)."""
    mg = rules.dose_given_mg(
        seconds=Decimal(int(running.total_seconds())),
        rate_ml_per_h=order.rate_ml_per_h,
        concentration_mg_per_ml=order.concentration_mg_per_ml,
    )
    return (mg / product.strength_mg_per_ml).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
