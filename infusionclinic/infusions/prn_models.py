"""In-chair PRN medicines (issue 21 point 13): the prescriber-signed `StandingOrder` that lists
which medicines a nurse may give during a session (each with its dose, route and maximum per
session), and each `MedicationAdministration` given under it (FHIR MedicationAdministration).
The medicines come from data/prn_medicines.json; their doses are clinic defaults, unverified."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from infusionclinic.patients.models import Patient

from .prn_catalogue import prn_medicines


class StandingOrder(models.Model):
    """Signed once, never edited; revoked (with a reason) and replaced by a new one. Per patient,
    or per treatment course (then only for that course's sessions)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="standing_orders")
    course = models.ForeignKey(
        "courses.TreatmentCourse",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="standing_orders",
    )
    note = models.CharField(max_length=500, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField()
    sign_method = models.CharField(max_length=16)  # password or totp (re-authenticated)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-signed_at", "-pk"]

    def __str__(self) -> str:
        return f"Standing order {self.pk} ({'revoked' if self.revoked_at else 'signed'})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class StandingOrderLine(models.Model):
    """One PRN medicine the standing order allows: the dose the nurse gives, its route, and the
    most that may be given in one session (all set by the prescriber)."""

    standing_order = models.ForeignKey(
        StandingOrder, on_delete=models.CASCADE, related_name="lines"
    )
    medicine = models.CharField(max_length=32)  # id in data/prn_medicines.json
    dose = models.DecimalField(max_digits=7, decimal_places=3)
    unit = models.CharField(max_length=8)  # UCUM, from the data file (mg)
    route = models.CharField(max_length=8)
    max_per_session = models.DecimalField(max_digits=7, decimal_places=3)
    indication = models.CharField(max_length=200)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["standing_order", "medicine"], name="standing_order_line_medicine"
            ),
            models.CheckConstraint(
                condition=models.Q(dose__gt=0) & models.Q(max_per_session__gte=models.F("dose")),
                name="standing_order_line_dose_within_max",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.medicine} {self.dose} {self.unit} {self.route}"

    @property
    def medicine_name(self) -> str:
        med = prn_medicines().get(self.medicine)
        return med.name if med else self.medicine


class MedicationAdministration(models.Model):
    """A PRN medicine given in the chair: drug, dose with unit, route, when, by whom and why,
    under the standing-order line that allowed it."""

    session = models.ForeignKey(
        "infusions.InfusionSession", on_delete=models.CASCADE, related_name="prn_given"
    )
    standing_order_line = models.ForeignKey(
        StandingOrderLine, on_delete=models.PROTECT, related_name="administrations"
    )
    medicine = models.CharField(max_length=32)
    dose = models.DecimalField(max_digits=7, decimal_places=3)
    unit = models.CharField(max_length=8)
    route = models.CharField(max_length=8)
    given_at = models.DateTimeField()
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["given_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(dose__gt=0), name="prn_given_dose_positive")
        ]

    def __str__(self) -> str:
        return f"{self.medicine} {self.dose} {self.unit} {self.route}"

    @property
    def medicine_name(self) -> str:
        med = prn_medicines().get(self.medicine)
        return med.name if med else self.medicine
