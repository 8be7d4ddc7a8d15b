"""An infusion session (FHIR Encounter) from check-in to discharge: pre-checks, pump events
(MedicationAdministration timing), vital signs (Observation), alerts, side effects, discharge
scores and the signed session note."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from infusionclinic.accounts.models import Location
from infusionclinic.dosing.models import DosingOrder
from infusionclinic.patients.models import Patient
from infusionclinic.scheduling.models import Appointment


class SessionState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    CHECKED_IN = "checked_in", "Checked in"
    PRE_CHECKS = "pre_checks", "Pre-checks done"
    INFUSING = "infusing", "Infusing"
    PAUSED = "paused", "Paused"
    RECOVERING = "recovering", "Recovering"
    DISCHARGED = "discharged", "Discharged"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


class InfusionSession(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="infusion_sessions")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    appointment = models.OneToOneField(
        Appointment, null=True, blank=True, on_delete=models.PROTECT, related_name="session"
    )
    order = models.ForeignKey(DosingOrder, on_delete=models.PROTECT, related_name="sessions")
    scheduled_at = models.DateTimeField()
    state = models.CharField(
        max_length=16, choices=SessionState.choices, default=SessionState.SCHEDULED
    )
    state_reason = models.CharField(max_length=500, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    identity_confirmed = models.BooleanField(default=False)
    escort_name = models.CharField(max_length=200, blank=True)  # PRE-5
    escort_phone = models.CharField(max_length=32, blank=True)
    # MON-BP-1/2: a prescriber's recorded decision to start despite the pre-infusion BP.
    bp_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    bp_override_at = models.DateTimeField(null=True, blank=True)
    bp_override_reason = models.TextField(blank=True)
    infusion_ended_at = models.DateTimeField(null=True, blank=True)
    discharged_at = models.DateTimeField(null=True, blank=True)
    discharged_to_escort = models.CharField(max_length=200, blank=True)  # DIS-3, PRE-5
    discharged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scheduled_at", "pk"]
        indexes = [
            models.Index(fields=["location", "scheduled_at"]),
            # DIS-6's follow-up calls on the day board: yesterday's discharges at a location
            # (without it the board read every session of the location: 70 ms at 100k patients).
            models.Index(fields=["location", "discharged_at"], name="session_location_discharged"),
        ]

    def __str__(self) -> str:
        return f"Session {self.pk} ({self.state})"


class PregnancyTest(models.TextChoices):
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    NEGATIVE = "negative", "Negative"
    POSITIVE = "positive", "Positive"


class PreCheck(models.Model):
    """The pre-infusion checklist as the nurse recorded it (PRE-2, PRE-4, PRE-5, PROT-C1)."""

    session = models.OneToOneField(
        InfusionSession, on_delete=models.CASCADE, related_name="precheck"
    )
    consent_current = models.BooleanField()  # intake.patient_may_be_booked at the time
    consent_reasons = models.JSONField(default=list)
    # PROT-14: read from outcomes (submitted assessments of the visit), not ticked by hand.
    questionnaires_done = models.BooleanField()
    questionnaires = models.JSONField(default=list)  # [{"code", "assessment_id"}]
    fasting_confirmed = models.BooleanField()  # PRE-4
    pregnancy_test = models.CharField(max_length=16, choices=PregnancyTest.choices)  # PRE-2
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1)
    # Today's weight, written to the chart (patients.BodyMeasurement) for dosing (WT-8).
    weight_measurement = models.ForeignKey(
        "patients.BodyMeasurement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Pre-checks of session {self.session_id}"


class PumpAction(models.TextChoices):
    START = "start", "Start"
    PAUSE = "pause", "Pause"
    RESUME = "resume", "Resume"
    STOP = "stop", "Stop"


class PumpEvent(models.Model):
    session = models.ForeignKey(InfusionSession, on_delete=models.CASCADE, related_name="pump")
    action = models.CharField(max_length=8, choices=PumpAction.choices)
    at = models.DateTimeField()
    reason = models.CharField(max_length=500, blank=True)
    # Issue 21 point 5: a stop before the ordered infusion time, with the reason chosen from
    # data/early_stop_reasons.json (`reason` holds the nurse's words).
    # Database defaults: bulk loads that name their columns (ops/scale.py) leave these out.
    ended_early = models.BooleanField(default=False, db_default=False)
    stop_reason = models.CharField(max_length=24, blank=True, default="", db_default="")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["at", "pk"]
        # The analytics page finds a period's infusions by their pump starts (analytics
        # selectors, `_infusion_sessions`) instead of aggregating every session of the location.
        indexes = [models.Index(fields=["action", "at"], name="pump_action_at")]

    def __str__(self) -> str:
        return f"{self.action} at {self.at:%H:%M} UTC"


class VitalPhase(models.TextChoices):
    PRE = "pre", "Pre-infusion"
    INFUSION = "infusion", "During infusion"
    RECOVERY = "recovery", "Recovery"


class VitalSign(models.Model):
    session = models.ForeignKey(InfusionSession, on_delete=models.CASCADE, related_name="vitals")
    phase = models.CharField(max_length=8, choices=VitalPhase.choices)
    taken_at = models.DateTimeField()
    systolic_mmhg = models.PositiveSmallIntegerField()
    diastolic_mmhg = models.PositiveSmallIntegerField()
    heart_rate_bpm = models.PositiveSmallIntegerField()
    spo2_pct = models.PositiveSmallIntegerField()
    respiratory_rate = models.PositiveSmallIntegerField()  # breaths per minute
    sedation = models.PositiveSmallIntegerField(null=True, blank=True)  # MOAA/S 0-5 (MON-3)
    dissociation = models.PositiveSmallIntegerField(null=True, blank=True)  # 0-3 (MON-CADSS)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["taken_at", "pk"]
        # A session's readings in time order: the vitals POST's baseline and MON-T2/T4 next-due
        # reads become a backward (index-only) scan of this index instead of a sort (issue 13).
        indexes = [models.Index(fields=["session", "taken_at"], name="vital_session_taken")]

    def __str__(self) -> str:
        return f"{self.systolic_mmhg}/{self.diastolic_mmhg} at {self.taken_at:%H:%M} UTC"


class Symptom(models.Model):
    """A warning sign the nurse observed (data/warning_signs.json): MON-BP-4 or MON-X-1."""

    session = models.ForeignKey(InfusionSession, on_delete=models.CASCADE, related_name="symptoms")
    code = models.CharField(max_length=24)
    observed_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["observed_at", "pk"]

    def __str__(self) -> str:
        return f"{self.code} at {self.observed_at:%H:%M} UTC"


class AlertLevel(models.TextChoices):
    WARNING = "warning", "Warning"
    ALERT = "alert", "Alert"
    CRITICAL = "critical", "Critical"


class VitalAlert(models.Model):
    """A threshold crossing (monitoring.md §3): the reading, rule, action, and who acknowledged.
    Raised by a reading, or by a warning sign (symptom or graded side effect, MON-BP-4/MON-X-1)."""

    session = models.ForeignKey(InfusionSession, on_delete=models.CASCADE, related_name="alerts")
    vital = models.ForeignKey(
        VitalSign, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    symptom = models.ForeignKey(
        Symptom, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    side_effect = models.ForeignKey(
        "SideEffect", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    rule_id = models.CharField(max_length=16)
    level = models.CharField(max_length=8, choices=AlertLevel.choices)
    message = models.CharField(max_length=300)
    action = models.CharField(max_length=300)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledge_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.rule_id} ({self.level})"


class SideEffect(models.Model):
    session = models.ForeignKey(
        InfusionSession, on_delete=models.CASCADE, related_name="side_effects"
    )
    code = models.CharField(max_length=8)  # AE-* from data/side_effects.json
    grade = models.PositiveSmallIntegerField()  # 1 mild, 2 moderate, 3 severe (monitoring.md §4)
    onset_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["onset_at", "pk"]

    def __str__(self) -> str:
        return f"{self.code} grade {self.grade}"


class DischargeScore(models.Model):
    """Modified Aldrete (DIS-1) and PADSS (DIS-2), five items of 0-2 each."""

    session = models.ForeignKey(
        InfusionSession, on_delete=models.CASCADE, related_name="discharge_scores"
    )
    assessed_at = models.DateTimeField()
    aldrete = models.JSONField()  # {item: 0-2}
    padss = models.JSONField()
    aldrete_total = models.PositiveSmallIntegerField()
    padss_total = models.PositiveSmallIntegerField()
    voiding_not_required = models.BooleanField(default=False)  # DIS-4
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["assessed_at", "pk"]

    def __str__(self) -> str:
        return f"Aldrete {self.aldrete_total}, PADSS {self.padss_total}"


class SessionNote(models.Model):
    """Generated from the record; signed by the nurse and the prescriber, then locked."""

    session = models.OneToOneField(InfusionSession, on_delete=models.CASCADE, related_name="note")
    body = models.TextField()
    generated_at = models.DateTimeField()
    nurse_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    nurse_signed_at = models.DateTimeField(null=True, blank=True)
    prescriber_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    prescriber_signed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Note of session {self.session_id}"

    @property
    def locked(self) -> bool:
        return self.nurse_signed_at is not None and self.prescriber_signed_at is not None


class NoteAmendment(models.Model):
    note = models.ForeignKey(SessionNote, on_delete=models.CASCADE, related_name="amendments")
    text = models.TextField()
    reason = models.CharField(max_length=500)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Amendment {self.pk} of note {self.note_id}"


class ControlledException(models.Model):
    """Issue 21 point 6, CS-42/CS-43: a prescriber's documented exception for the differences the
    controlled-substance log still shows for this session (`infusions.dose.session_dose_check`),
    so that it may be discharged and its note signed. `problems` keeps the differences as they
    were when it was recorded ([rule id, message] pairs): it covers exactly those, so a new or
    changed difference needs a new exception. Insert-only; the note shows it."""

    session = models.ForeignKey(
        InfusionSession, on_delete=models.PROTECT, related_name="cs_exceptions"
    )
    reason = models.TextField()
    problems = models.JSONField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["recorded_at", "pk"]

    def __str__(self) -> str:
        return f"Controlled-substance exception {self.pk} of session {self.session_id}"


class FacilityCheck(models.Model):
    """protocol.md PRE-7, the facility checklist of a location's clinic day: a prescriber
    experienced in airway management, emergency airway equipment and resuscitation drugs on site,
    and at least one ACLS-certified clinician present. Recorded by a nurse or prescriber of the
    location (the software cannot see a certificate: the person recording attests, and names the
    people). Append-only: a correction is a new row; the latest of the day counts."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    local_date = models.DateField(help_text="The clinic day, in the location's time zone.")
    airway_prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    acls_clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    airway_equipment_checked = models.BooleanField()
    resuscitation_drugs_checked = models.BooleanField()
    note = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        indexes = [models.Index(fields=["location", "local_date"], name="facility_check_day")]

    def __str__(self) -> str:
        return f"PRE-7 {self.location_id} {self.local_date}"


class VerbalOrderKind(models.TextChoices):
    VERBAL = "verbal", "Verbal (in person)"
    TELEPHONE = "telephone", "Telephone"


class VerbalOrder(models.Model):
    """MON-BP-3: a prescriber's verbal or telephone order to resume the pump after a blood-
    pressure pause, taken by the nurse and read back; the prescriber co-signs it later (issue 21
    point 4). One order authorizes one resume (`resume_event`)."""

    session = models.ForeignKey(
        InfusionSession, on_delete=models.CASCADE, related_name="verbal_orders"
    )
    kind = models.CharField(max_length=12, choices=VerbalOrderKind.choices)
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    given_at = models.DateTimeField()
    instruction = models.CharField(max_length=500, blank=True)
    read_back = models.BooleanField()
    # The MON-BP-3 crossing the order answers.
    alert = models.ForeignKey(
        VitalAlert, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()
    resume_event = models.OneToOneField(
        PumpEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="verbal_order"
    )
    cosigned_at = models.DateTimeField(null=True, blank=True)
    cosign_method = models.CharField(max_length=8, blank=True)  # password / totp

    class Meta:
        ordering = ["given_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} order of {self.prescriber} at {self.given_at:%H:%M} UTC"


# Issue 21 point 13: in-chair PRN medicines (their own module; re-exported for the app registry).
from .prn_models import (  # noqa: E402, F401
    MedicationAdministration,
    StandingOrder,
    StandingOrderLine,
)
