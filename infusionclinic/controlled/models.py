"""The DEA Schedule III controlled-substance log (controlled-substances.md).

Products (NDC, CS-24), lots held at one location (CS-4), and an append-only ledger per lot: every
entry stores its signed change to the lot's stock (`delta_ml`) and the balance after it
(`balance_after_ml`, never below zero: CS-41, a database check). Entries are never updated or
deleted (CS-45): the model and its queryset refuse; errors are fixed by new `adjustment` entries
(CS-40). Daily counts compare found and expected stock; a variance opens a `Discrepancy` (§7);
the day's reconciliation is signed by two users (R2, CS-43). The registrant's DEA registration per
location (§4), Form 41 destructions and reverse-distributor returns (CS-17, CS-18, CS-37) and
theft/loss reports with their deadlines (CS-13, CS-38, R5) complete the records.
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


class Registration(models.Model):
    """§4 `Registration`: the DEA registration of one registered location (CS-4): registrant
    name, DEA number, schedules, registered address, expiry. A renewal is a new row; the current
    one is the latest by expiry."""

    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="cs_registrations"
    )
    registrant_name = models.CharField(max_length=200)
    dea_number = models.CharField("DEA registration number", max_length=9)
    schedules = models.CharField(max_length=40, default="III")
    address = models.TextField()
    phone = models.CharField(max_length=32, blank=True)  # CS-18, R5
    contact_name = models.CharField(max_length=200, blank=True)  # CS-18
    county = models.CharField(max_length=100, blank=True)  # R5
    principal_business = models.CharField(max_length=100, default="Practitioner")  # R5
    expires_on = models.DateField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["location", "-expires_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["location", "dea_number", "expires_on"], name="cs_registration_once"
            )
        ]

    def __str__(self) -> str:
        return f"DEA {self.dea_number} ({self.registrant_name}, expires {self.expires_on})"


class DestructionKind(models.TextChoices):
    ON_SITE = "on_site", "Destroyed on site (DEA Form 41)"
    REVERSE_DISTRIBUTOR = "reverse_distributor", "Returned to a reverse distributor"


class Destruction(AppendOnlyModel):
    """CS-17, CS-18, CS-37: inventory leaving by destruction on site to a non-retrievable state,
    witnessed by two authorized employees who both re-authenticate (Form 41 data), or by return
    to a DEA-registered reverse distributor. Its lines are the ledger entries pointing at it.
    Insert-only (CS-45)."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    registration = models.ForeignKey(
        Registration, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=DestructionKind.choices)
    occurred_at = models.DateTimeField()  # CS-5: the day it physically happened
    method = models.CharField(max_length=200, blank=True)  # CS-18
    place = models.CharField(max_length=200, blank=True)  # CS-18
    witness_1 = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    witness_2 = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    distributor_name = models.CharField(max_length=200, blank=True)  # CS-17, CS-36
    distributor_address = models.TextField(blank=True)
    distributor_dea = models.CharField(max_length=9, blank=True)
    reference = models.CharField(max_length=100, blank=True)  # shipping/invoice reference
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="on_site")
                | (
                    models.Q(witness_1__isnull=False, witness_2__isnull=False)
                    & ~models.Q(witness_1=models.F("witness_2"))
                    & ~models.Q(witness_1=models.F("recorded_by"))
                    & ~models.Q(witness_2=models.F("recorded_by"))
                ),
                name="cs_destruction_two_other_witnesses",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} on {self.occurred_at:%Y-%m-%d}"


class LossType(models.TextChoices):
    """R5 / DEA Form 106 types of theft or loss."""

    NIGHT_BREAK_IN = "night_break_in", "Night break-in"
    ARMED_ROBBERY = "armed_robbery", "Armed robbery"
    EMPLOYEE_PILFERAGE = "employee_pilferage", "Employee pilferage"
    CUSTOMER_THEFT = "customer_theft", "Customer theft"
    LOST_IN_TRANSIT = "lost_in_transit", "Lost in transit"
    OTHER = "other", "Other (including unexplained loss)"


class LossReport(models.Model):
    """CS-13, CS-38, R5: a theft or significant loss, from its discovery: the written notice to
    the DEA Field Division Office within 1 business day, DEA Form 106 within 45 days. Its items
    are the `loss` ledger entries pointing at it."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    registration = models.ForeignKey(
        Registration, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    discovered_at = models.DateTimeField()
    loss_type = models.CharField(max_length=20, choices=LossType.choices)
    circumstances = models.TextField()
    police_notified = models.BooleanField(default=False)
    police_department = models.CharField(max_length=200, blank=True)
    police_phone = models.CharField(max_length=32, blank=True)
    police_report_number = models.CharField(max_length=60, blank=True)
    purchase_value = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    carrier = models.TextField(blank=True)  # R5: carrier details if lost in transit
    dea_notice_sent_at = models.DateTimeField(null=True, blank=True)
    form106_submitted_at = models.DateTimeField(null=True, blank=True)
    form106_reference = models.CharField(max_length=60, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-discovered_at", "-pk"]

    def __str__(self) -> str:
        return f"Theft/loss report {self.pk} ({self.get_loss_type_display()})"


class EntryKind(models.TextChoices):
    RECEIPT = "receipt", "Receipt"  # CS-30
    DRAW = "draw", "Draw for a dose"  # CS-31
    ADMINISTRATION = "administration", "Administration"  # CS-32
    WASTE = "waste", "Witnessed waste"  # CS-33
    RETURN = "return", "Return to reverse distributor"  # CS-37
    DESTRUCTION = "destruction", "Destruction (Form 41)"  # CS-37
    LOSS = "loss", "Theft or loss"  # CS-38
    BREAKAGE = "breakage", "Witnessed breakage / spill"  # CS-20, CS-38: not a loss
    ADJUSTMENT = "adjustment", "Correction"  # CS-40


# Which way each kind moves the lot's stock. Administration and waste come out of a drawn dose,
# which already left the vial (§8 worked example), so they do not move the lot balance — except
# a vial remainder recorded as wastage when the clinic sets CS-21 that way (no dose; it does).
DIRECTION: dict[str, int] = {
    EntryKind.RECEIPT: 1,
    EntryKind.DRAW: -1,
    EntryKind.ADMINISTRATION: 0,
    EntryKind.WASTE: 0,
    EntryKind.RETURN: -1,
    EntryKind.DESTRUCTION: -1,
    EntryKind.LOSS: -1,
    EntryKind.BREAKAGE: -1,
}
# CS-44; CS-16: DEA only encourages a second person for wastage, this product requires one.
WITNESSED = frozenset({EntryKind.WASTE, EntryKind.DESTRUCTION, EntryKind.ADJUSTMENT})


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
    # Draws: the open encounter (infusion session) the dose was drawn for (CS-31, CS-42, §4
    # `Dose`), so its administration can be set against the pump's dose given (CS-32, CS-43).
    # Empty on draws recorded before the link existed.
    session = models.ForeignKey(
        "infusions.InfusionSession",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cs_draws",
    )
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    # CS-17: the second of the two witnesses of an on-site destruction (Form 41).
    second_witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    destruction = models.ForeignKey(
        Destruction, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    loss_report = models.ForeignKey(
        LossReport, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
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
            # CS-17, CS-37: on-site destruction has two witnesses, neither the actor.
            models.CheckConstraint(
                condition=~models.Q(kind="destruction")
                | (
                    models.Q(second_witness__isnull=False, destruction__isnull=False)
                    & ~models.Q(second_witness=models.F("actor"))
                    & ~models.Q(second_witness=models.F("witness"))
                ),
                name="cs_destruction_second_witness",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="return") | models.Q(destruction__isnull=False),
                name="cs_return_has_distributor_record",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="loss") | models.Q(loss_report__isnull=False),
                name="cs_loss_has_report",
            ),
            # CS-20: breakage the registrant can account for is witnessed (not a loss report).
            models.CheckConstraint(
                condition=~models.Q(kind="breakage")
                | (models.Q(witness__isnull=False) & ~models.Q(witness=models.F("actor"))),
                name="cs_breakage_witnessed",
            ),
            # CS-34: a drawn dose never goes back into stock: what points at a dose is its
            # administration or its waste, and neither moves the lot's balance.
            models.CheckConstraint(
                condition=models.Q(dose__isnull=True)
                | models.Q(kind__in=["administration", "waste"], delta_ml=0),
                name="cs_dose_never_returns_to_stock",
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
    """§7: opened by a count that differs from the ledger; recounted at once by two users, both
    counts kept (step 2: the actor counts first, another licensed user re-authenticates and counts
    second); moves open → investigated → resolved (with a reason) or reported as a loss (a `loss`
    entry, CS-13), and cannot close without the recount. Each step is audited."""

    count = models.OneToOneField(Count, on_delete=models.PROTECT, related_name="discrepancy")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="discrepancies")
    status = models.CharField(
        max_length=16, choices=DiscrepancyStatus.choices, default=DiscrepancyStatus.OPEN
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    # §7 step 2: the recount by two distinct users (the second re-authenticated, CS-44).
    recount_first_ml = models.DecimalField(null=True, blank=True, **ML)
    recount_first_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recount_second_ml = models.DecimalField(null=True, blank=True, **ML)
    recount_second_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recounted_at = models.DateTimeField(null=True, blank=True)
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
        constraints = [
            # §7 step 2: both counts or none, by two different people. (That a discrepancy closes
            # only after its recount is the service's rule: discrepancies closed before the
            # recount existed stay valid rows.)
            models.CheckConstraint(
                condition=models.Q(
                    recounted_at__isnull=True,
                    recount_first_ml__isnull=True,
                    recount_first_by__isnull=True,
                    recount_second_ml__isnull=True,
                    recount_second_by__isnull=True,
                )
                | (
                    models.Q(
                        recounted_at__isnull=False,
                        recount_first_ml__gte=0,
                        recount_first_by__isnull=False,
                        recount_second_ml__gte=0,
                        recount_second_by__isnull=False,
                    )
                    & ~models.Q(recount_first_by=models.F("recount_second_by"))
                ),
                name="cs_discrepancy_recount_by_two",
            ),
        ]

    def __str__(self) -> str:
        return f"Discrepancy {self.pk} on {self.lot} ({self.status})"

    @property
    def recounts_agree(self) -> bool | None:
        if self.recounted_at is None:
            return None
        return self.recount_first_ml == self.recount_second_ml


class Reconciliation(AppendOnlyModel):
    """R2: the day's close-of-business reconciliation of one location, signed by two users (the
    second re-authenticates on the same screen, CS-44). Refused while a dose is open (CS-43) or a
    lot in stock has no count that day. Keeps what was signed as a snapshot."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    business_date = models.DateField()
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    second_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField()
    counts = models.JSONField(default=list)  # [{lot, count_id, expected_ml, counted_ml, method}]
    open_discrepancies = models.JSONField(default=list)  # ids still open when signed
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-business_date", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["location", "business_date"], name="cs_reconciliation_once_a_day"
            ),
            models.CheckConstraint(
                condition=~models.Q(signed_by=models.F("second_signed_by")),
                name="cs_reconciliation_two_people",
            ),
        ]

    def __str__(self) -> str:
        return f"Reconciliation {self.business_date} at {self.location_id}"


class StorageTransfer(AppendOnlyModel):
    """CS-35: whole sealed vials of one lot moved inside the registered location (the locked
    cabinet → a room cart, and back): no change at registrant level, so no ledger entry; the
    actor, the receiver (another licensed user, re-authenticated: the signature 🏥), from and to.
    CS-34: only unopened vials are ever returned to the cabinet (`is_return`). Insert-only
    (CS-45)."""

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="transfers")
    containers = models.PositiveIntegerField()
    from_place = models.CharField(max_length=120)
    to_place = models.CharField(max_length=120)
    is_return = models.BooleanField(default=False)
    occurred_at = models.DateTimeField()  # CS-5
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    receiver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(containers__gte=1), name="cs_transfer_whole_vials"
            ),
            models.CheckConstraint(
                condition=~models.Q(receiver=models.F("actor")), name="cs_transfer_two_people"
            ),
            models.CheckConstraint(
                condition=~models.Q(from_place=models.F("to_place")),
                name="cs_transfer_moves_somewhere",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.containers} vial(s) of {self.lot}: {self.from_place} → {self.to_place}"
