"""Dosing orders (FHIR MedicationRequest): a prescriber's order for one infusion, or a standing
order for a course phase, with the calculator's numbers as they were signed.

An order is a version in a lineage. A draft may be signed once; a signed order never changes
(the services refuse, and nothing else writes it): a change is a new version that supersedes it.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models

from infusionclinic.courses.models import Indication, TreatmentCourse
from infusionclinic.patients.models import BodyMeasurement, Patient

from .calculator import DosingSex, WeightBasis


class OrderStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"


class OrderScope(models.TextChoices):
    SINGLE = "single", "One infusion"
    STANDING = "standing", "Standing order for the phase"


class SignMethod(models.TextChoices):
    PASSWORD = "password", "Password"
    TOTP = "totp", "TOTP code"


class DosingOrder(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="dosing_orders")
    course = models.ForeignKey(
        TreatmentCourse,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dosing_orders",
    )
    # Versions: `lineage_id` is the first version's id; `supersedes` the version it replaces.
    lineage_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    version = models.PositiveIntegerField(default=1)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    status = models.CharField(max_length=8, choices=OrderStatus.choices, default=OrderStatus.DRAFT)
    scope = models.CharField(max_length=8, choices=OrderScope.choices, default=OrderScope.SINGLE)
    phase = models.CharField(max_length=16, blank=True)  # the course phase a standing order is for
    indication = models.CharField(max_length=16, choices=Indication.choices)

    # WT-1, WT-7: the weight basis and every value it used.
    weight_basis = models.CharField(max_length=8, choices=[(b.value, b.value) for b in WeightBasis])
    sex_for_dosing = models.CharField(max_length=8, choices=[(s.value, s.value) for s in DosingSex])
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1)
    weight_measurement = models.ForeignKey(
        BodyMeasurement, null=True, on_delete=models.PROTECT, related_name="+"
    )
    weight_measured_on = models.DateField()
    height_cm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    bmi = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    dosing_weight_kg = models.DecimalField(max_digits=5, decimal_places=1)

    dose_mg_per_kg = models.DecimalField(
        max_digits=5, decimal_places=3, null=True, blank=True
    )  # DOSE-U3
    dose_mg_per_kg_per_h = models.DecimalField(
        max_digits=5, decimal_places=3, null=True, blank=True
    )  # DOSE-U7, pain
    bolus_mg_per_kg = models.DecimalField(max_digits=5, decimal_places=3, null=True, blank=True)
    duration_min = models.PositiveIntegerField()
    concentration_mg_per_ml = models.DecimalField(max_digits=7, decimal_places=3)  # DOSE-U5
    dose_mg = models.DecimalField(max_digits=10, decimal_places=1)  # DOSE-U4
    volume_ml = models.DecimalField(max_digits=10, decimal_places=1)
    rate_ml_per_h = models.DecimalField(max_digits=10, decimal_places=1)  # DOSE-U6

    findings = models.JSONField(default=list)  # [{rule_id, severity, message}]
    rule_ids = models.JSONField(default=list)
    blocked = models.BooleanField(default=False)
    warning_reason = models.TextField(blank=True)  # soft limits need a written reason
    # dosing.md LIM-4 "hard stop (override)": the prescriber's reason for signing above it.
    override_reason = models.TextField(blank=True)
    change_reason = models.TextField(blank=True)  # DOSE-3: why a new version

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    sign_method = models.CharField(max_length=8, choices=SignMethod.choices, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["patient", "status", "-created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["lineage_id", "version"], name="order_lineage_version"),
            models.CheckConstraint(
                condition=models.Q(status="draft")
                | models.Q(signed_by__isnull=False, signed_at__isnull=False),
                name="order_signed_has_signer",
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.lineage_id}.{self.version} {self.dose_mg} mg ({self.status})"

    @property
    def is_signed(self) -> bool:
        return self.status == OrderStatus.SIGNED

    @property
    def label(self) -> str:
        return f"#{self.lineage_id or self.pk} v{self.version}"

    @property
    def duration_h(self) -> Decimal:
        return Decimal(self.duration_min) / 60

    @property
    def reverse_check_mg(self) -> Decimal:
        """RATE-7: rate × duration_h × concentration, to set beside the dose ordered."""
        return (self.rate_ml_per_h * self.duration_h * self.concentration_mg_per_ml).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )

    @property
    def dose_rate_mg_per_kg_per_h(self) -> Decimal:
        rate = self.dose_mg_per_kg_per_h or (self.dose_mg_per_kg or Decimal(0)) / self.duration_h
        return rate.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)

    @property
    def warnings(self) -> list[dict[str, str]]:
        return [f for f in self.findings if f["severity"] == "warning"]

    @property
    def hard_stops(self) -> list[dict[str, str]]:
        return [f for f in self.findings if f["severity"] == "hard_stop"]
