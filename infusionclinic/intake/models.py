"""Referral, intake, eligibility screening and informed consent (issue 4).

The rules that decide eligibility live in data/screening_rules.json and screening.py; these
tables only hold what was recorded and what each screening found."""

from django.conf import settings
from django.db import models

from infusionclinic.accounts.models import Location
from infusionclinic.common.models import TimeStampedModel
from infusionclinic.patients.models import Patient, ReferringProvider, SexAtBirth


class ReferralSource(models.TextChoices):
    PROVIDER = "provider", "Referring provider"
    SELF = "self", "Self-referral"
    WEBSITE = "website", "Consultation request on the website"


class ReferralStatus(models.TextChoices):
    NEW = "new", "New"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"


class Referral(TimeStampedModel):
    """A request to treat someone, before (or while) they become a patient."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="referrals")
    source = models.CharField(max_length=16, choices=ReferralSource.choices)
    # e.g. the website's consultation-request number, or the provider's letter reference.
    source_reference = models.CharField(max_length=200, blank=True)
    referring_provider = models.ForeignKey(
        ReferringProvider, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    birth_date = models.DateField()
    sex_at_birth = models.CharField(max_length=16, choices=SexAtBirth.choices)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True)
    # ICD-10-CM billable codes (codes.md CODE-DX-R1), checked by referral_create.
    diagnosis_codes = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=16, choices=ReferralStatus.choices, default=ReferralStatus.NEW
    )
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="referrals"
    )
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Referral of {self.given_name} {self.family_name} ({self.get_status_display()})"


class TreatmentKind(models.TextChoices):
    ANTIDEPRESSANT = "antidepressant", "Antidepressant"
    PSYCHOTHERAPY = "psychotherapy", "Psychotherapy"
    ECT = "ect", "ECT"
    TMS = "tms", "TMS"
    ESKETAMINE = "esketamine", "Esketamine"
    OTHER = "other", "Other"


class TrialOutcome(models.TextChoices):
    # PROT-2: "no response" is < 50 % improvement.
    NO_RESPONSE = "no_response", "No response (< 50 % improvement)"
    RESPONSE = "response", "Response (≥ 50 % improvement)"
    NOT_TOLERATED = "not_tolerated", "Stopped: not tolerated"
    UNKNOWN = "unknown", "Unknown"


class PriorTreatment(TimeStampedModel):
    """One treatment tried before (PROT-2: drug, dose, weeks, outcome of each trial)."""

    referral = models.ForeignKey(
        Referral, null=True, blank=True, on_delete=models.CASCADE, related_name="treatments"
    )
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="prior_treatments"
    )
    kind = models.CharField(max_length=16, choices=TreatmentKind.choices)
    name = models.CharField("drug or treatment", max_length=200)
    dose_mg_per_day = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    weeks = models.PositiveSmallIntegerField(null=True, blank=True)
    # Whether the dose was adequate is a clinical judgement per drug (PROT-2 gives no table).
    dose_adequate = models.BooleanField(null=True, blank=True)
    current_episode = models.BooleanField(default=True)
    outcome = models.CharField(
        max_length=16, choices=TrialOutcome.choices, default=TrialOutcome.UNKNOWN
    )
    notes = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"


class IntakeStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"


class HepaticDisease(models.TextChoices):
    NONE = "none", "None"
    MILD_MODERATE = "moderate", "Mild or moderate"
    SEVERE = "severe", "Severe (e.g. cirrhosis, liver failure)"


class Intake(TimeStampedModel):
    """The intake questionnaire, one per patient. A draft is saved as it is typed; once submitted
    it is locked and changes go through intake_amend (with a reason, audited).

    Yes/no questions are nullable: None means "not answered yet", which is not "no"."""

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="intake")
    status = models.CharField(
        max_length=16, choices=IntakeStatus.choices, default=IntakeStatus.DRAFT
    )
    # Free-text history (PROT-3).
    medical_history = models.TextField(blank=True)
    current_medications = models.TextField(blank=True)
    allergies = models.TextField(blank=True)
    substance_use = models.TextField(blank=True)
    psychiatric_history = models.TextField(blank=True)
    cardiovascular_history = models.TextField(blank=True)
    suicide_attempts = models.BooleanField(null=True, blank=True)
    # Screening questions; each feeds the ELIG rule named beside it.
    ketamine_hypersensitivity = models.BooleanField(null=True, blank=True)  # ELIG-A1
    aneurysm_avm_or_brain_bleed = models.BooleanField(null=True, blank=True)  # ELIG-A2
    uncontrolled_hypertension = models.BooleanField(null=True, blank=True)  # ELIG-A3
    unstable_heart_disease = models.BooleanField(null=True, blank=True)  # ELIG-A4
    current_psychosis = models.BooleanField(null=True, blank=True)  # ELIG-A5
    current_mania = models.BooleanField(null=True, blank=True)  # ELIG-A6
    pregnant = models.BooleanField(null=True, blank=True)  # ELIG-A7
    hepatic_disease = models.CharField(
        max_length=16, choices=HepaticDisease.choices, blank=True
    )  # ELIG-A8 / ELIG-B5
    takes_theophylline = models.BooleanField(null=True, blank=True)  # ELIG-A9
    substance_use_active = models.BooleanField(null=True, blank=True)  # ELIG-B1
    substance_use_history = models.BooleanField(null=True, blank=True)  # ELIG-B2
    psychosis_history = models.BooleanField(null=True, blank=True)  # ELIG-B3
    bipolar_disorder = models.BooleanField(null=True, blank=True)  # ELIG-B4
    alcohol_misuse_or_hepatitis = models.BooleanField(null=True, blank=True)  # ELIG-B5
    raised_eye_or_brain_pressure = models.BooleanField(null=True, blank=True)  # ELIG-B6
    urinary_symptoms = models.BooleanField(null=True, blank=True)  # ELIG-B7
    breastfeeding = models.BooleanField(null=True, blank=True)  # ELIG-B8
    takes_cns_depressants = models.BooleanField(null=True, blank=True)  # ELIG-C1
    takes_stimulants_or_maoi = models.BooleanField(null=True, blank=True)  # ELIG-C2
    # Measurements as the patient reports them (the chart's measured values take precedence).
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    height_cm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    baseline_systolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    baseline_diastolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_phone = models.CharField(max_length=32, blank=True)
    escort_name = models.CharField(max_length=200, blank=True)  # PRE-5
    escort_phone = models.CharField(max_length=32, blank=True)  # PRE-5
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    last_saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"Intake of {self.patient} ({self.get_status_display()})"

    @property
    def is_locked(self) -> bool:
        return self.status == IntakeStatus.SUBMITTED


class IntakeAmendment(models.Model):
    """A change to a submitted intake: which fields, from what, to what, why, by whom."""

    intake = models.ForeignKey(Intake, on_delete=models.PROTECT, related_name="amendments")
    changes = models.JSONField()  # {field: [old, new]}
    reason = models.TextField()
    amended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    amended_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["amended_at", "pk"]

    def __str__(self) -> str:
        return f"Amendment of {self.intake_id} at {self.amended_at}"


class ScreeningStatus(models.TextChoices):
    ELIGIBLE = "eligible", "Eligible"
    NEEDS_REVIEW = "needs_review", "Needs a prescriber's review"
    INELIGIBLE = "ineligible", "Not eligible"


class Severity(models.TextChoices):
    ABSOLUTE = "absolute", "Absolute contraindication"
    RELATIVE = "relative", "Relative contraindication (prescriber review)"
    INFO = "info", "For information"


class EligibilityScreening(models.Model):
    """One run of the screening rules over the patient's data. Every run is kept; the latest is
    the one that counts."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screenings")
    ran_at = models.DateTimeField(auto_now_add=True)
    trigger = models.CharField(max_length=100)  # what changed, e.g. "intake_save", "diagnosis"
    # Status from the findings alone; reviews of relative findings are applied when read.
    findings_status = models.CharField(max_length=16, choices=ScreeningStatus.choices)
    resistance_count = models.PositiveSmallIntegerField()  # PROT-2 adequate failed trials
    rules_version = models.CharField(max_length=32)
    ran_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-ran_at", "-pk"]
        indexes = [models.Index(fields=["patient", "-ran_at"])]

    def __str__(self) -> str:
        return f"Screening of {self.patient_id} at {self.ran_at}: {self.findings_status}"


class ScreeningFinding(models.Model):
    screening = models.ForeignKey(
        EligibilityScreening, on_delete=models.CASCADE, related_name="findings"
    )
    rule_id = models.CharField(max_length=16)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    message = models.TextField()
    # What in the data triggered it; a review covers a finding with the same rule and evidence.
    evidence = models.CharField(max_length=500)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.rule_id} ({self.severity})"


class ReviewDecision(models.TextChoices):
    PROCEED = "proceed", "Proceed despite the finding"
    DO_NOT_TREAT = "do_not_treat", "Do not treat"


class PrescriberReview(models.Model):
    """A prescriber's documented decision on a relative finding (ELIG level B)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screening_reviews")
    screening = models.ForeignKey(
        EligibilityScreening, on_delete=models.PROTECT, related_name="reviews"
    )
    rule_id = models.CharField(max_length=16)
    evidence = models.CharField(max_length=500)
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices)
    reason = models.TextField()
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reviewed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.decision}"


class ConsentDocument(models.Model):
    """One version of one consent document. Text is never edited: a change is a new version,
    and a new version needs a new signature before the next infusion (PROT-C2)."""

    code = models.SlugField(max_length=40)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    required = models.BooleanField(default=True)
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="consent_document_version")
        ]

    def __str__(self) -> str:
        return f"{self.title} (version {self.version})"


class ConsentSignature(models.Model):
    """The patient's signature on exactly one document version, and the staff countersignature."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    document = models.ForeignKey(
        ConsentDocument, on_delete=models.PROTECT, related_name="signatures"
    )
    typed_name = models.CharField(max_length=200)
    agreed = models.BooleanField()
    signed_at = models.DateTimeField()
    client_address = models.CharField(max_length=64)
    channel = models.CharField(max_length=16)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    countersigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    countersigned_at = models.DateTimeField(null=True, blank=True)
    pdf = models.FileField(upload_to="consents/%Y/%m/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-signed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "document"], name="consent_signed_once")
        ]

    def __str__(self) -> str:
        return f"{self.document} signed by {self.typed_name}"

    @property
    def is_complete(self) -> bool:
        return self.countersigned_at is not None


class ChartItem(models.TextChoices):
    """What an intake (or an accepted referral) offers to the chart (issue 21 point 3)."""

    WEIGHT = "weight", "Weight"
    HEIGHT = "height", "Height"
    EMERGENCY_CONTACT = "emergency_contact", "Emergency contact"
    ESCORT = "escort", "Usual escort (PRE-5)"
    DIAGNOSIS = "diagnosis", "Diagnosis from the referral"


class IntakeChartTransfer(models.Model):
    """A staff member accepted an intake answer or a referral's diagnosis into the chart. The
    chart row itself is written by the patients services (measurement, demographics,
    diagnosis); this row keeps what was offered and taken, so the same value is not offered
    again and a changed one (an amended intake) is."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="chart_transfers")
    item = models.CharField(max_length=24, choices=ChartItem.choices)
    # What was accepted, e.g. {"value": "80.0", "unit": "kg"}, {"name": ..., "phone": ...},
    # {"code": "F33.2"}; and the chart row written (a measurement or diagnosis id).
    value = models.JSONField()
    referral = models.ForeignKey(
        Referral, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    chart_object_id = models.PositiveBigIntegerField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["accepted_at", "pk"]
        indexes = [models.Index(fields=["patient", "item"])]

    def __str__(self) -> str:
        return f"{self.get_item_display()} of {self.patient_id} accepted into the chart"
