"""The patient chart: demographics, contacts, measurements (stored in SI units with when they were
measured), allergies, current medications, diagnoses (ICD-10-CM) and the referring provider."""

import unicodedata

from django.conf import settings
from django.db import models

from infusionclinic.accounts.models import Location
from infusionclinic.common.models import TimeStampedModel


class SexAtBirth(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    INTERSEX = "intersex", "Intersex"
    UNKNOWN = "unknown", "Unknown / not recorded"


class ReferringProvider(TimeStampedModel):
    """The mental-health provider who referred the patient and keeps treating them."""

    name = models.CharField(max_length=200)
    practice = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    email = models.EmailField(blank=True)
    fax = models.CharField(max_length=32, blank=True)
    npi = models.CharField("NPI", max_length=10, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}, {self.practice}" if self.practice else self.name


def fold_for_search(text: str) -> str:
    """Lower-case, accents dropped, compatibility forms unified: "Émile" -> "emile"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip()


def name_search_keys(*, given_name: str, family_name: str, preferred_name: str) -> dict[str, str]:
    return {
        "given_name_key": fold_for_search(given_name)[:100],
        "family_name_key": fold_for_search(family_name)[:100],
        "preferred_name_key": fold_for_search(preferred_name)[:100],
    }


class Patient(TimeStampedModel):
    mrn = models.CharField("MRN", max_length=16, unique=True, editable=False)
    given_name = models.CharField("legal given name", max_length=100)
    family_name = models.CharField("legal family name", max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True)
    birth_date = models.DateField("date of birth")
    sex_at_birth = models.CharField(max_length=16, choices=SexAtBirth.choices)
    gender_identity = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField("state / region", max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, default="US")
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_phone = models.CharField(max_length=32, blank=True)
    emergency_contact_relationship = models.CharField(max_length=100, blank=True)
    # The adult who usually takes the patient home (PRE-5); check-in starts from it, and the
    # nurse confirms or changes it for the visit (issue 21 point 3).
    escort_name = models.CharField("usual escort's name", max_length=200, blank=True)
    escort_phone = models.CharField("usual escort's phone", max_length=32, blank=True)
    home_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="patients")
    referring_provider = models.ForeignKey(
        ReferringProvider, null=True, blank=True, on_delete=models.PROTECT, related_name="patients"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patient",
    )
    # Optimistic concurrency: an edit states the version it started from (see patient_update).
    version = models.PositiveIntegerField(default=1)
    # Case- and accent-folded names for search ("muller" finds "Müller" on every database);
    # written by the services through `name_search_keys`.
    family_name_key = models.CharField(max_length=100, default="", editable=False)
    given_name_key = models.CharField(max_length=100, default="", editable=False)
    preferred_name_key = models.CharField(max_length=100, default="", editable=False)

    class Meta:
        ordering = ["family_name", "given_name"]
        indexes = [
            models.Index(fields=["family_name_key", "given_name_key"], name="patient_family_key"),
            models.Index(fields=["given_name_key"], name="patient_given_key"),
            models.Index(fields=["birth_date"]),
            models.Index(fields=["home_location", "family_name"]),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.mrn})"

    @property
    def display_name(self) -> str:
        given = self.preferred_name or self.given_name
        return f"{given} {self.family_name}"

    @property
    def legal_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class MeasurementKind(models.TextChoices):
    WEIGHT = "weight", "Weight"
    HEIGHT = "height", "Height"


class BodyMeasurement(models.Model):
    """Weight in kg or height in cm (DOSE-U1, DOSE-U2), with what was typed and when it was
    measured: dosing needs a recent weight (dosing.md WT-8)."""

    SI_UNIT = {MeasurementKind.WEIGHT: "kg", MeasurementKind.HEIGHT: "cm"}

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="measurements")
    kind = models.CharField(max_length=8, choices=MeasurementKind.choices)
    value_si = models.DecimalField(max_digits=6, decimal_places=1)
    entered_value = models.DecimalField(max_digits=7, decimal_places=2)
    entered_unit = models.CharField(max_length=4)
    measured_on = models.DateField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-measured_on", "-created_at"]
        indexes = [models.Index(fields=["patient", "kind", "-measured_on"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.value_si} {self.si_unit} on {self.measured_on}"

    @property
    def si_unit(self) -> str:
        return self.SI_UNIT[MeasurementKind(self.kind)]


class AllergySeverity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"
    UNKNOWN = "unknown", "Unknown"


class Allergy(TimeStampedModel):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="allergies")
    substance = models.CharField(max_length=200)
    reaction = models.CharField(max_length=200, blank=True)
    severity = models.CharField(
        max_length=16, choices=AllergySeverity.choices, default=AllergySeverity.UNKNOWN
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["substance"]
        verbose_name_plural = "allergies"

    def __str__(self) -> str:
        return self.substance


class Medication(TimeStampedModel):
    """A current medication as the patient takes it (free-text dose: reported, not ordered)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="medications")
    name = models.CharField(max_length=200)
    dose = models.CharField(max_length=200, blank=True)
    started_on = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} {self.dose}".strip()


class Diagnosis(TimeStampedModel):
    """A diagnosis coded in ICD-10-CM; only billable leaf codes (codes.md CODE-DX-R1)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="diagnoses")
    code = models.CharField("ICD-10-CM code", max_length=8)
    description = models.CharField(max_length=255)
    is_primary = models.BooleanField(default=False)
    noted_on = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-is_primary", "code"]
        verbose_name_plural = "diagnoses"
        constraints = [
            models.UniqueConstraint(fields=["patient", "code"], name="diagnosis_unique_per_patient")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.description}"


class EmergencyAccess(models.Model):
    """ "Break the glass": a prescriber opens the chart of a patient outside their locations, for a
    stated reason, for a limited time. Always audited and reported to the clinic's admins."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="emergency_accesses"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    granted_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.user} → {self.patient_id} until {self.expires_at:%Y-%m-%d %H:%M}Z"
