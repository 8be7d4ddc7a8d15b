"""The DEA Schedule III controlled-substance log (controlled-substances.md).

Products (NDC, CS-24), lots held at one location (CS-4), and an append-only ledger per lot: every
entry stores its signed change to the lot's stock (`delta_ml`) and the balance after it
(`balance_after_ml`, never below zero: CS-41, a database check). Entries are never updated or
deleted (CS-45): the model and its queryset refuse; errors are fixed by new `adjustment` entries
(CS-40). Daily counts compare found and expected stock; a variance opens a `Discrepancy` (§7).
"""

from decimal import Decimal
from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from infusionclinic.accounts.models import Location

ML = {"max_digits": 10, "decimal_places": 2}
MG = {"max_digits": 12, "decimal_places": 3}


class AppendOnlyError(Exception):
    pass


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Controlled-substance records are append-only (CS-45).")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AppendOnlyError("Controlled-substance records are append-only (CS-45).")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Controlled-substance records are append-only (CS-45).")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Controlled-substance records are append-only (CS-45).")


class Product(models.Model):
    """CS-11, CS-22..24: one package NDC as printed (hyphenated), its strength and vial volume.
    Strength and volume never change once the NDC has been received (CS-48)."""

    ndc = models.CharField("NDC (package, as printed)", max_length=13, unique=True)
    ndc11 = models.CharField("NDC 11-digit (5-4-2)", max_length=13)
    unit_ndc = models.CharField("NDC (unit, on the vial)", max_length=13, blank=True)
    name = models.CharField(max_length=120)
    labeler = models.CharField(max_length=120, blank=True)
    dosage_form = models.CharField(max_length=60, default="injection")
    strength_mg_per_ml = models.DecimalField(max_digits=7, decimal_places=3)
    container_ml = models.DecimalField(max_digits=7, decimal_places=2)
    schedule = models.CharField(max_length=4, default="CIII")  # CS-1, CODE-RX6

    class Meta:
        ordering = ["name", "ndc"]

    def __str__(self) -> str:
        return f"{self.name} {self.strength_mg_per_ml} mg/mL × {self.container_ml} mL ({self.ndc})"


class Lot(models.Model):
    """One manufacturer lot of one product held at one location (CODE-RX-R1). The service locks
    this row while it appends to the lot's ledger."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="cs_lots")
    lot_number = models.CharField(max_length=40)
    expiry = models.DateField()
    storage = models.CharField(max_length=120, blank=True)  # CS-9: which locked cabinet
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product__name", "expiry", "lot_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "location", "lot_number"], name="cs_lot_unique_per_location"
            )
        ]

    def __str__(self) -> str:
        return f"{self.product.name} lot {self.lot_number} (exp {self.expiry})"

    @property
    def concentration_mg_per_ml(self) -> Decimal:
        return self.product.strength_mg_per_ml


class EntryKind(models.TextChoices):
    RECEIPT = "receipt", "Receipt"  # CS-30
    DRAW = "draw", "Draw for a dose"  # CS-31
    ADMINISTRATION = "administration", "Administration"  # CS-32
    WASTE = "waste", "Witnessed waste"  # CS-33
    RETURN = "return", "Return to reverse distributor"  # CS-37
    DESTRUCTION = "destruction", "Destruction (Form 41)"  # CS-37
    LOSS = "loss", "Theft or loss"  # CS-38
    ADJUSTMENT = "adjustment", "Correction"  # CS-40


# Which way each kind moves the lot's stock. Administration and waste come out of a drawn dose,
# which already left the vial (§8 worked example), so they do not move the lot balance.
DIRECTION: dict[str, int] = {
    EntryKind.RECEIPT: 1,
    EntryKind.DRAW: -1,
    EntryKind.ADMINISTRATION: 0,
    EntryKind.WASTE: 0,
    EntryKind.RETURN: -1,
    EntryKind.DESTRUCTION: -1,
    EntryKind.LOSS: -1,
}
WITNESSED = frozenset({EntryKind.WASTE, EntryKind.DESTRUCTION, EntryKind.ADJUSTMENT})  # CS-44


class LedgerEntry(AppendOnlyModel):
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="entries")
    seq = models.PositiveIntegerField()  # 1, 2, ... per lot: a fork or a gap is visible
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    qty_ml = models.DecimalField(**ML)  # the quantity the entry is about (≥ 0)
    concentration_mg_per_ml = models.DecimalField(max_digits=7, decimal_places=3)
    qty_mg = models.DecimalField(**MG)  # CS-48: = qty_ml × concentration, exact
    delta_ml = models.DecimalField(**ML)  # signed change of the lot's stock
    balance_after_ml = models.DecimalField(**ML)  # CS-41
    occurred_at = models.DateTimeField()  # CS-5: when it physically happened
    recorded_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Draws: the signed order and its patient (CS-42); administration and waste: the draw (dose).
    order = models.ForeignKey(
        "dosing.DosingOrder", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dose = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="dose_entries"
    )
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    supplier = models.CharField(max_length=120, blank=True)  # CS-8, CS-30
    supplier_dea = models.CharField(max_length=20, blank=True)
    invoice_number = models.CharField(max_length=60, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["lot", "seq"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["lot", "seq"], name="cs_entry_seq_per_lot"),
            models.CheckConstraint(
                condition=models.Q(balance_after_ml__gte=0), name="cs_balance_never_negative"
            ),
            models.CheckConstraint(condition=models.Q(qty_ml__gte=0), name="cs_qty_not_negative"),
            models.CheckConstraint(
                condition=~models.Q(kind="draw")
                | models.Q(order__isnull=False, patient__isnull=False),
                name="cs_draw_has_order_and_patient",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind__in=["waste", "destruction", "adjustment"])
                | (models.Q(witness__isnull=False) & ~models.Q(witness=models.F("actor"))),
                name="cs_witnessed_by_another_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lot} #{self.seq} {self.kind} {self.qty_ml} mL"

    @property
    def is_late(self) -> bool:
        """CS-45: back-dated beyond the setting's minutes."""
        from datetime import timedelta

        from .conf import late_entry_minutes

        return self.occurred_at < self.recorded_at - timedelta(minutes=late_entry_minutes())


class CountMethod(models.TextChoices):
    EXACT = "exact", "Exact (sealed vials or measured)"
    ESTIMATED = "estimated", "Estimated (opened vial)"  # CS-12


class Count(AppendOnlyModel):
    """A daily (or ad hoc) count of one lot (CS-39, R2)."""

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="counts")
    counted_ml = models.DecimalField(**ML)
    method = models.CharField(max_length=10, choices=CountMethod.choices)
    expected_ml = models.DecimalField(**ML)  # the ledger balance when counted
    counted_at = models.DateTimeField()
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-counted_at", "-pk"]

    def __str__(self) -> str:
        return f"Count of {self.lot}: {self.counted_ml} mL (expected {self.expected_ml})"

    @property
    def variance_ml(self) -> Decimal:
        return self.counted_ml - self.expected_ml


class DiscrepancyStatus(models.TextChoices):
    OPEN = "open", "Open"
    INVESTIGATED = "investigated", "Investigated"
    RESOLVED = "resolved", "Resolved"
    REPORTED_LOSS = "reported_loss", "Reported as theft/loss"


class Discrepancy(models.Model):
    """§7: opened by a count that differs from the ledger; moves open → investigated → resolved
    (with a reason) or reported as a loss (a `loss` entry, CS-13). Each step is audited."""

    count = models.OneToOneField(Count, on_delete=models.PROTECT, related_name="discrepancy")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="discrepancies")
    status = models.CharField(
        max_length=16, choices=DiscrepancyStatus.choices, default=DiscrepancyStatus.OPEN
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    investigation_notes = models.TextField(blank=True)
    investigated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_reason = models.TextField(blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    loss_entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name_plural = "discrepancies"

    def __str__(self) -> str:
        return f"Discrepancy {self.pk} on {self.lot} ({self.status})"
