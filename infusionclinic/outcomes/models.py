"""Rating scales (scales.md): instrument definitions as data, assignments, responses, amendments
and safety alerts. Scoring lives in scoring.py; writes in services.py."""

from __future__ import annotations

from functools import cached_property

from django.conf import settings
from django.db import models

from infusionclinic.common.models import TimeStampedModel
from infusionclinic.patients.models import Patient

from .scoring import InstrumentSpec, parse_definition


class InstrumentDefinition(models.Model):
    """One version of one instrument, loaded from data/instruments/*.json (never edited: a
    change is a new version, so old responses keep the definition they were scored with)."""

    code = models.CharField(max_length=32)
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    definition = models.JSONField()
    sha256 = models.CharField(max_length=64)
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="instrument_code_version")
        ]
        ordering = ["code", "-version"]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"

    @cached_property
    def spec(self) -> InstrumentSpec:
        return parse_definition(self.definition)


class InstrumentAssignment(TimeStampedModel):
    """The care team asks this patient to complete this instrument (by code: the current version
    is used when it is answered). Stands in for the course's instrument list until courses
    (issue 6) exist."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="assignments")
    instrument_code = models.CharField(max_length=32)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "instrument_code"], name="assignment_patient_instrument"
            )
        ]
        ordering = ["instrument_code"]

    def __str__(self) -> str:
        return f"{self.instrument_code} for patient {self.patient_id}"


class AssessmentStatus(models.TextChoices):
    DRAFT = "draft", "In progress"
    SUBMITTED = "submitted", "Submitted"


class Administration(models.TextChoices):
    SELF = "self", "Patient (self-report)"
    CLINICIAN = "clinician", "Entered by staff"


class AssessmentSource(models.TextChoices):
    """Where the response was collected (issue 18 section 2): the course proposal says which."""

    CLINIC = "clinic", "clinic"
    HOME_CHECKIN = "home_checkin", "home check-in"


class Assessment(TimeStampedModel):
    """One response to one instrument (FHIR QuestionnaireResponse). A draft holds partial answers
    (None for unanswered items) and may be resumed; a submitted response is locked and changes
    only by amendment (AssessmentAmendment). SCALE-3: answers, total, band, version, language,
    who administered, when."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="assessments")
    instrument = models.ForeignKey(
        InstrumentDefinition, on_delete=models.PROTECT, related_name="assessments"
    )
    status = models.CharField(
        max_length=16, choices=AssessmentStatus.choices, default=AssessmentStatus.DRAFT
    )
    answers = models.JSONField(default=list)  # one int or null per item, in item order
    total = models.PositiveIntegerField(null=True, blank=True)  # SCALE-1: only when complete
    severity = models.CharField(max_length=40, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    administration = models.CharField(max_length=16, choices=Administration.choices)
    language = models.CharField(max_length=16, default="en")
    source = models.CharField(
        max_length=16, choices=AssessmentSource.choices, default=AssessmentSource.CLINIC
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["completed_at", "pk"]
        indexes = [models.Index(fields=["patient", "status", "completed_at"])]

    def __str__(self) -> str:
        return f"{self.instrument} #{self.pk} ({self.status})"

    @property
    def is_locked(self) -> bool:
        return self.status == AssessmentStatus.SUBMITTED


class AssessmentAmendment(models.Model):
    """A correction to a submitted response: who, when, why, and what it replaced."""

    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="amendments")
    amended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    amended_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField()
    previous_answers = models.JSONField()
    previous_total = models.PositiveIntegerField(null=True)
    new_answers = models.JSONField()
    new_total = models.PositiveIntegerField(null=True)

    class Meta:
        ordering = ["amended_at", "pk"]

    def __str__(self) -> str:
        return f"Amendment of assessment {self.assessment_id}"


class SafetyAlert(models.Model):
    """Raised by an alert rule of an instrument (SCALE-4: PHQ-9 item 9 >= 1). Open until a
    prescriber acknowledges it with the action taken."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="safety_alerts")
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="alerts")
    rule_id = models.CharField(max_length=32)
    level = models.CharField(max_length=16)
    message = models.TextField()
    raised_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action_taken = models.TextField(blank=True)

    class Meta:
        ordering = ["-raised_at", "-pk"]
        indexes = [models.Index(fields=["acknowledged_at", "patient"])]

    def __str__(self) -> str:
        return f"{self.rule_id} alert for patient {self.patient_id}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None
