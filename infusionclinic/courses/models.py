"""Treatment protocols (versioned, clinic-editable) and each patient's treatment course with its
phase history (../shared/domain/protocol.md §5)."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models

from infusionclinic.accounts.models import Clinic
from infusionclinic.common.models import TimeStampedModel
from infusionclinic.patients.models import Patient

from .proposals import ResponseMeasure, ResponseRule


class Indication(models.TextChoices):  # dosing.calculator.Indication, PROT-1
    DEPRESSION = "depression", "Depression (MDD/TRD)"
    PTSD = "ptsd", "PTSD"
    ANXIETY = "anxiety", "Anxiety"
    OCD = "ocd", "OCD"
    PAIN = "pain", "Chronic pain / CRPS / fibromyalgia"


class Protocol(models.Model):
    """One version of a protocol. A clinic's edit writes a new row (same `key`, version + 1);
    rows are never changed, so a course keeps the exact version it started with. Rows with no
    clinic are the defaults seeded from data/protocols.json."""

    key = models.SlugField(max_length=50)
    version = models.PositiveIntegerField()
    clinic = models.ForeignKey(
        Clinic, null=True, blank=True, on_delete=models.PROTECT, related_name="protocols"
    )
    name = models.CharField(max_length=120)
    indication = models.CharField(max_length=16, choices=Indication.choices)
    induction_count = models.PositiveSmallIntegerField()  # PROT-10
    induction_interval_days = models.PositiveSmallIntegerField()  # PROT-10
    min_spacing_hours = models.PositiveSmallIntegerField()  # PROT-12
    maintenance_interval_days = models.PositiveSmallIntegerField()  # PROT-30
    primary_instrument = models.CharField(max_length=20)  # PROT-13
    response_measure = models.CharField(
        max_length=8, choices=[(m.value, m.value) for m in ResponseMeasure]
    )
    response_threshold = models.DecimalField(max_digits=5, decimal_places=1)  # PROT-21
    partial_threshold = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True
    )  # PROT-23
    remission_below = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True
    )  # PROT-22
    baseline_window_days = models.PositiveSmallIntegerField()  # PROT-13
    max_extension_infusions = models.PositiveSmallIntegerField()  # PROT-23
    loss_of_response_count = models.PositiveSmallIntegerField()  # PROT-32
    reinduction_gap_days = models.PositiveSmallIntegerField()  # PROT-40
    # Dose defaults (dosing.md DOSE-1, DOSE-4; pain DOSE-P2/P4): what a new order starts from.
    default_dose_mg_per_kg = models.DecimalField(
        max_digits=5, decimal_places=3, null=True, blank=True
    )
    default_dose_mg_per_kg_per_h = models.DecimalField(
        max_digits=5, decimal_places=3, null=True, blank=True
    )
    default_duration_min = models.PositiveSmallIntegerField()
    default_concentration_mg_per_ml = models.DecimalField(max_digits=6, decimal_places=3)
    # Issue 18 section 2: the check-ins due between visits, per phase:
    # {"induction": [{"instrument": "PHQ-9", "every_days": 7}, ...], "maintenance": [...]}.
    checkin_schedule = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="protocol_key_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def response_rule(self) -> ResponseRule:
        return ResponseRule(
            measure=ResponseMeasure(self.response_measure),
            response_threshold=Decimal(self.response_threshold),
            partial_threshold=self.partial_threshold,
            remission_below=self.remission_below,
            baseline_window_days=self.baseline_window_days,
            induction_count=self.induction_count,
            induction_interval_days=self.induction_interval_days,
            max_extension_infusions=self.max_extension_infusions,
            maintenance_interval_days=self.maintenance_interval_days,
            loss_of_response_count=self.loss_of_response_count,
            reinduction_gap_days=self.reinduction_gap_days,
        )


class Phase(models.TextChoices):
    INDUCTION = "induction", "Induction"
    MAINTENANCE = "maintenance", "Maintenance"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    DISCONTINUED = "discontinued", "Discontinued"


# Which phase may follow which (PROT-23, PROT-32, PROT-40; protocol.md §5.5). Staying in induction
# is the extension of PROT-23 and restarting it from maintenance is re-induction (PROT-40).
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Phase.INDUCTION: frozenset(
        {Phase.INDUCTION, Phase.MAINTENANCE, Phase.PAUSED, Phase.DISCONTINUED}
    ),
    Phase.MAINTENANCE: frozenset(
        {Phase.INDUCTION, Phase.PAUSED, Phase.COMPLETED, Phase.DISCONTINUED}
    ),
    Phase.PAUSED: frozenset(
        {Phase.INDUCTION, Phase.MAINTENANCE, Phase.COMPLETED, Phase.DISCONTINUED}
    ),
    Phase.COMPLETED: frozenset(),
    Phase.DISCONTINUED: frozenset(),
}


class TreatmentCourse(TimeStampedModel):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="courses")
    indication = models.CharField(max_length=16, choices=Indication.choices)
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="courses")
    primary_instrument = models.CharField(max_length=20)  # PROT-13, chosen per patient
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.INDUCTION)
    started_at = models.DateTimeField()
    phase_started_at = models.DateTimeField()
    extension_infusions_used = models.PositiveSmallIntegerField(default=0)  # PROT-23
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["patient", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.get_indication_display()} course ({self.get_phase_display()})"

    @property
    def is_open(self) -> bool:
        return self.phase not in (Phase.COMPLETED, Phase.DISCONTINUED)

    @property
    def checkin_schedule_now(self) -> list[dict[str, object]]:
        """The check-ins its protocol version sets for the current phase (issue 18 section 2);
        none while paused, completed or discontinued."""
        rows: list[dict[str, object]] = (self.protocol.checkin_schedule or {}).get(self.phase) or []
        return rows


class PhaseDecision(models.Model):
    """A prescriber's decision on a course's phase, with the reason and the proposal it answered
    (append-only: the course's phase history)."""

    course = models.ForeignKey(TreatmentCourse, on_delete=models.PROTECT, related_name="decisions")
    from_phase = models.CharField(max_length=16, choices=Phase.choices, blank=True)
    to_phase = models.CharField(max_length=16, choices=Phase.choices)
    reason = models.TextField()
    proposal_action = models.CharField(max_length=32, blank=True)
    proposal_rule_ids = models.JSONField(default=list, blank=True)
    proposal_numbers = models.JSONField(default=dict, blank=True)
    extension_infusions = models.PositiveSmallIntegerField(default=0)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["decided_at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_phase or 'start'} → {self.to_phase}"


class CheckIn(TimeStampedModel):
    """One questionnaire due between visits (issue 18 section 2), created by `checkins_due` from
    the schedule of the course's protocol version for its phase. Due at the clinic's local time
    (CHECKINS_DUE_LOCAL_TIME) on `due_on` in the patient's home location's zone; its period ends
    `every_days` later, when the next one is due. The reminder mail carries a one-time link:
    `link_nonce` is what the current link signs, cleared when the link is used."""

    course = models.ForeignKey(TreatmentCourse, on_delete=models.PROTECT, related_name="checkins")
    instrument_code = models.CharField(max_length=20)
    phase = models.CharField(max_length=16, choices=Phase.choices)
    every_days = models.PositiveSmallIntegerField()
    due_on = models.DateField()  # the local day in the patient's home location's zone
    due_at = models.DateTimeField()  # aware (stored UTC): local due time on due_on
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    reminder_repeated_at = models.DateTimeField(null=True, blank=True)
    link_nonce = models.CharField(max_length=32, blank=True)
    assessment = models.OneToOneField(
        "outcomes.Assessment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="checkin",
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["course", "instrument_code", "due_on"], name="checkin_course_code_day"
            )
        ]
        indexes = [models.Index(fields=["completed_at", "due_at"])]

    def __str__(self) -> str:
        return f"{self.instrument_code} check-in due {self.due_on} (course {self.course_id})"

    @property
    def closes_at(self) -> datetime:
        """The end of its period: when the next check-in of the instrument is due."""
        return self.due_at + timedelta(days=self.every_days)
