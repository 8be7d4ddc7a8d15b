"""The demo clinic's care history (issue 21 point 1): about 120 days of referrals, intakes,
screening, consent, treatment courses, rating-scale series and signed dosing orders, built
through the services so that every rule, proposal and audit event is the real one.

Deterministic (a `random.Random` per patient from `data.HISTORY_SEED`) and idempotent: a patient
who already has a referral is left as they are, and so is a referral already recorded.

Dates, per course (protocol PROT-10 weekly induction, PROT-30 monthly maintenance), counted in
the patient's location from day S of infusion 1 (a weekday: the demo clinic opens Monday to
Friday), earlier steps on the weekday on or before the day named:
- intake submitted S-14, consents signed and countersigned S-10, weighed S-1 (WT-8), the course
  started and its standing order written and signed S-1;
- the primary scale and PHQ-9 (scales.md section 9: PHQ-9 at every session) before each
  induction infusion on S, S+7, S+14 (PROT-14; the one on S is the PROT-13 baseline);
- the post-induction evaluation and the prescriber's decision on the protocol's proposal
  (PROT-23) on S+16 (or the next weekday); an extension (PROT-23) adds infusions on S+21 and
  S+28 and moves the decision to S+30 (or the next weekday);
- in maintenance, scales before each infusion every `maintenance_interval_days` from the
  decision day, up to yesterday. The sessions themselves are built by the infusions side of the
  demo, from the courses, their decisions and their signed orders.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.services import user_create, user_reauthenticate
from infusionclinic.courses import services as course_services
from infusionclinic.courses.models import Phase, TreatmentCourse
from infusionclinic.courses.proposals import Action
from infusionclinic.courses.selectors import course_proposal, course_score_history
from infusionclinic.dosing import services as dosing_services
from infusionclinic.dosing.models import DosingOrder, OrderScope, SignMethod
from infusionclinic.intake import services as intake_services
from infusionclinic.intake.models import (
    Referral,
    ReferralSource,
    Severity,
    TreatmentKind,
    TrialOutcome,
)
from infusionclinic.intake.selectors import consent_documents_current, screening_latest
from infusionclinic.outcomes import scoring
from infusionclinic.outcomes import services as outcome_services
from infusionclinic.patients import services as patient_services
from infusionclinic.patients.models import Patient

from . import data

# The indication of a primary diagnosis (protocol.md PROT-1; the clinic's protocols.json keys).
INDICATION_BY_PREFIX = (
    ("F43.1", "ptsd"),
    ("F41", "anxiety"),
    ("F3", "depression"),
    ("M79.7", "pain"),
    ("G89", "pain"),
    ("G90.5", "pain"),
)
# The scale items' ranges and the items the story keeps at 0 (PHQ-9 item 9: no safety alert).
SCALES = {
    "PHQ-9": {"items": 9, "max": 3, "zero": (8,)},
    "GAD-7": {"items": 7, "max": 3, "zero": ()},
    "PCL-5": {"items": 20, "max": 4, "zero": ()},
    "PAIN-NRS": {"items": 1, "max": 10, "zero": ()},
}
# Fraction of the baseline total at each visit after the baseline: induction 2 and 3, the
# post-induction evaluation, then each maintenance visit (the last value repeats). "partial"
# lists the extension's two infusions and its evaluation before maintenance.
TRAJECTORIES = {
    "remit": (0.7, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1),
    "respond": (0.8, 0.6, 0.45, 0.42, 0.4, 0.38),
    "partial": (0.85, 0.75, 0.65, 0.55, 0.45, 0.4, 0.38, 0.35),
    "none": (0.97, 0.92, 0.9),
}
SECONDARY_PHQ9_BASELINE = (12, 16)  # PHQ-9 beside another primary scale: moderate symptoms
SECONDARY_GAD7_BASELINE = (10, 14)  # GAD-7 beside PHQ-9: moderate anxiety
EVALUATION_DAY = 16  # the post-induction evaluation, after the last infusion on day 14
EXTENDED_EVALUATION_DAY = 30  # after an extension's infusions on days 21 and 28
EXTENSION_INFUSIONS = 2  # PROT-23: at most the protocol's max_extension_infusions (3)


def weekday_on_or_before(day: date) -> date:
    """The clinic opens Monday to Friday (the demo's opening hours): visits fall on weekdays."""
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def weekday_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@dataclass
class Cast:
    front_desk: User
    nurse: User
    prescriber: User
    signer_confirmed: bool = False

    def clinician(self, patient: Patient) -> User:
        """The nurse works at Boston only; at Denver the prescriber enters scales and intakes."""
        if self.nurse.locations.filter(pk=patient.home_location_id).exists():
            return self.nurse
        return self.prescriber


def history_build(*, cast: Cast) -> int:
    """Build the story for every demo patient who has none yet; returns how many got one."""
    for given, family, birth, sex, loc, prov, codes, reason in data.REFERRALS_NEW:
        _referral_only(
            cast, given, family, date.fromisoformat(birth), sex, loc, prov, codes, reason
        )
    built = 0
    for row in data.PATIENTS:
        given, family, dob = row[0], row[1], date.fromisoformat(row[3])
        story = data.HISTORY.get((given, family))
        patient = Patient.objects.filter(
            given_name=given, family_name=family, birth_date=dob
        ).first()
        if story is None or patient is None or Referral.objects.filter(patient=patient).exists():
            continue
        rng = random.Random(f"{data.HISTORY_SEED}:{given}:{family}")  # noqa: S311 (demo data)
        _Story(cast, patient, story, rng, weight=row[8], medications=row[11]).build()
        built += 1
    return built


def _referral_only(
    cast: Cast,
    given: str,
    family: str,
    birth: date,
    sex: str,
    loc: str,
    prov: int,
    codes: list[str],
    reason: str,
) -> None:
    if Referral.objects.filter(given_name=given, family_name=family, birth_date=birth).exists():
        return
    provider = patient_services.referring_provider_get_or_create(**data.PROVIDERS[prov])
    intake_services.referral_create(
        actor=cast.front_desk,
        location=Location.objects.get(code=loc),
        source=ReferralSource.PROVIDER,
        referring_provider=provider,
        given_name=given,
        family_name=family,
        birth_date=birth,
        sex_at_birth=sex,
        reason=reason,
        diagnosis_codes=codes,
    )


def indication_for(patient: Patient) -> str:
    primary = patient.diagnoses.filter(is_primary=True).values_list("code", flat=True).first()
    for prefix, indication in INDICATION_BY_PREFIX:
        if primary and primary.startswith(prefix):
            return indication
    return "depression"


def _answers(rng: random.Random, instrument: str, total: int) -> list[int]:
    """Item answers that add up to `total`, spread at random over the items that may carry it."""
    spec = SCALES[instrument]
    free = [i for i in range(spec["items"]) if i not in spec["zero"]]
    total = max(0, min(total, len(free) * spec["max"]))
    answers = [0] * spec["items"]
    for _ in range(total):
        open_items = [i for i in free if answers[i] < spec["max"]]
        answers[rng.choice(open_items)] += 1
    return answers


class _Story:
    def __init__(
        self,
        cast: Cast,
        patient: Patient,
        story: dict[str, Any],
        rng: random.Random,
        *,
        weight: tuple[float, str],
        medications: list[tuple[str, str]],
    ) -> None:
        self.cast, self.patient, self.story, self.rng = cast, patient, story, rng
        self.weight, self.medications = weight, medications
        self.tz = patient.home_location.tzinfo
        self.today = timezone.localdate(timezone=self.tz)
        self.clinician = cast.clinician(patient)
        self.stage = story["stage"]
        self.indication = indication_for(patient)

    # -- time ------------------------------------------------------------------------------
    def at(self, day: date, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(day, time(hh, mm), tzinfo=self.tz)

    def past(self, moment: datetime) -> datetime | None:
        """A moment to pass as a service's `at`: None (now) if it is not in the past."""
        return moment if moment < timezone.now() else None

    # -- the stages ------------------------------------------------------------------------
    def build(self) -> None:
        start = self.today - timedelta(days=self.story.get("start", 30))
        # Infusion 1 on a weekday: a past day moves back, a day ahead moves forward.
        start = weekday_on_or_before(start) if start < self.today else weekday_on_or_after(start)
        self._referral()
        if self.stage == "intake":
            self._intake_draft()
            return
        self._prior_treatments()
        self._intake_submit(self.at(weekday_on_or_before(start - timedelta(days=14)), 11))
        if self.stage == "screened_out":
            return
        self._review_relative_findings()
        self._consent(self.at(weekday_on_or_before(start - timedelta(days=10)), 10))
        self._course(start)

    def _referral(self) -> None:
        patient = self.patient
        referral = intake_services.referral_create(
            actor=self.cast.front_desk,
            location=patient.home_location,
            source=ReferralSource.PROVIDER,
            referring_provider=patient.referring_provider,
            given_name=patient.given_name,
            family_name=patient.family_name,
            birth_date=patient.birth_date,
            sex_at_birth=patient.sex_at_birth,
            email=patient.email,
            phone=patient.phone,
            reason=f"Referred for ketamine infusions ({self.indication}).",
            diagnosis_codes=list(patient.diagnoses.values_list("code", flat=True)),
        )
        intake_services.referral_accept(
            actor=self.cast.front_desk, referral=referral, link_patient=patient
        )

    def _intake_values(self) -> dict[str, Any]:
        amount, unit = self.weight
        kg = Decimal(str(amount)) * (Decimal("0.45359237") if unit == "lb" else 1)
        height = self.patient.measurements.filter(kind="height").first()
        values: dict[str, Any] = dict.fromkeys(intake_services.BOOL_FIELDS, False)
        values.update(
            {
                "hepatic_disease": "none",
                "current_medications": "\n".join(f"{n} {d}" for n, d in self.medications),
                "allergies": "\n".join(
                    f"{a.substance} ({a.reaction})" for a in self.patient.allergies.all()
                )
                or "None known",
                "medical_history": "No other conditions.",
                "psychiatric_history": "See referral letter.",
                "emergency_contact_name": self.patient.emergency_contact_name,
                "emergency_contact_phone": self.patient.emergency_contact_phone,
                "escort_name": self.patient.emergency_contact_name,
                "escort_phone": self.patient.emergency_contact_phone,
                "weight_kg": kg.quantize(Decimal("0.1")),
                "height_cm": height.value_si.quantize(Decimal("0.1")) if height else None,
                "baseline_systolic_mmhg": self.rng.randint(112, 134),
                "baseline_diastolic_mmhg": self.rng.randint(70, 84),
            }
        )
        if self.patient.sex_at_birth == "male":
            values.pop("pregnant")
            values.pop("breastfeeding")
        if self.stage == "screened_out":
            answer, _rule = self.story["finding"]
            values[answer] = True
        return values

    def _intake_draft(self) -> None:
        """A patient part-way through the intake: medicines and contacts typed, the screening
        questions not answered yet."""
        values = self._intake_values()
        keep = ("current_medications", "allergies", "emergency_contact_name")
        intake_services.intake_save(
            actor=self.clinician,
            patient=self.patient,
            values={k: values[k] for k in keep},
        )

    def _prior_treatments(self) -> None:
        """PROT-2/PROT-5: two adequate antidepressant trials without response in the current
        episode (the referral letter's medicines and one before them)."""
        names = [n for n, _dose in self.medications][:1] + ["Citalopram"]
        for name in names:
            intake_services.prior_treatment_add(
                actor=self.cast.prescriber,
                patient=self.patient,
                kind=TreatmentKind.ANTIDEPRESSANT,
                name=name,
                weeks=self.rng.choice((8, 10, 12)),
                dose_adequate=True,
                current_episode=True,
                outcome=TrialOutcome.NO_RESPONSE,
            )

    def _intake_submit(self, when: datetime) -> None:
        intake_services.intake_save(
            actor=self.clinician,
            patient=self.patient,
            values=self._intake_values(),
            submit=True,
            at=self.past(when),
        )

    def _review_relative_findings(self) -> None:
        """A prescriber decides every relative finding (ELIG-B*, PROT-1, PROT-5) with a reason."""
        view = screening_latest(patient=self.patient)
        if view is None:
            return
        for finding in view.screening.findings.filter(severity=Severity.RELATIVE):
            intake_services.screening_review(
                actor=self.cast.prescriber,
                patient=self.patient,
                rule_id=finding.rule_id,
                decision="proceed",
                reason=f"{finding.rule_id} reviewed at the consultation: benefit outweighs the "
                "risk; discussed with the patient, monitored at each visit.",
            )

    def _consent(self, when: datetime) -> None:
        """Every current consent document signed by the patient (portal account without a
        password: it is set through the reset link) and countersigned by the nurse."""
        patient = self.patient
        if patient.user_id is None:
            user_create(email=patient.email, role="patient", password=None, patient_mrn=patient.mrn)
            patient.refresh_from_db()
        user = User.objects.get(pk=patient.user_id)
        for i, document in enumerate(consent_documents_current()):
            signature = intake_services.consent_sign(
                actor=user,
                patient=patient,
                document=document,
                typed_name=patient.legal_name,
                agreed=True,
                at=self.past(when + timedelta(minutes=i)),
            )
            intake_services.consent_countersign(
                actor=self.clinician,
                patient=patient,
                signature=signature,
                at=self.past(when + timedelta(minutes=30 + i)),
            )

    # -- the course ------------------------------------------------------------------------
    def _course(self, start: date) -> None:
        patient, prescriber = self.patient, self.cast.prescriber
        eve = weekday_on_or_before(start - timedelta(days=1))
        weighed_on = min(eve, self.today)
        amount, unit = self.weight
        patient_services.measurement_record(
            actor=self.clinician,
            patient=patient,
            kind="weight",
            value=amount,
            unit=unit,
            measured_on=weighed_on,
        )
        started_at = self.at(start, 9, 30)
        course = course_services.course_start(
            actor=prescriber,
            patient=patient,
            indication=self.indication,
            started_at=started_at,
            at=self.past(self.at(eve, 15)),
        )
        order = self._order(course, self.at(eve, 15, 20))
        self.primary = course.primary_instrument
        self.instruments = [self.primary] + (["PHQ-9"] if self.primary != "PHQ-9" else [])
        self.baselines = {self.primary: self.story["baseline"]}
        if self.primary != "PHQ-9":
            self.baselines["PHQ-9"] = self.rng.randint(*SECONDARY_PHQ9_BASELINE)
        if self.primary != "GAD-7" and self.patient.diagnoses.filter(code__startswith="F41"):
            # scales.md section 9: GAD-7 beside PHQ-9 for depression with generalized anxiety.
            self.instruments.append("GAD-7")
            self.baselines["GAD-7"] = self.rng.randint(*SECONDARY_GAD7_BASELINE)
        trajectory = list(TRAJECTORIES[self.story["course"]])
        if start >= self.today:  # booked: the baseline at the consultation, before day 1
            # The last weekday before today: within PROT-13's 7 days before infusion 1.
            self._scores(self.at(weekday_on_or_before(self.today - timedelta(days=1)), 16), 1.0)
            return
        visits = [
            (start, 1.0),
            (start + timedelta(days=7), None),
            (start + timedelta(days=14), None),
        ]
        for day, fraction in visits:
            if day >= self.today:
                return
            self._scores(self.at(day, 9, 10), fraction if fraction else trajectory.pop(0))
        decision_day = weekday_on_or_after(start + timedelta(days=EVALUATION_DAY))
        if decision_day >= self.today:
            return
        partial = self.story["course"] == "partial"
        self._scores(self.at(decision_day, 10), trajectory.pop(0), responding=not partial)
        decision = self._decide(course, self.at(decision_day, 10, 30))
        if decision == Action.EXTEND_INDUCTION:
            order = self._titrate(order, self.at(decision_day, 10, 40))
            for offset in (21, 28):
                if start + timedelta(days=offset) >= self.today:
                    return
                self._scores(self.at(start + timedelta(days=offset), 9, 10), trajectory.pop(0))
            decision_day = weekday_on_or_after(start + timedelta(days=EXTENDED_EVALUATION_DAY))
            if decision_day >= self.today:
                return
            self._scores(self.at(decision_day, 10), trajectory.pop(0), responding=True)
            decision = self._decide(course, self.at(decision_day, 10, 30))
        if decision != Action.MOVE_TO_MAINTENANCE:
            return
        if self.story.get("titrate") and self.story["course"] != "partial":
            order = self._titrate(order, self.at(decision_day, 10, 40))
        interval = course.protocol.maintenance_interval_days
        day = decision_day + timedelta(days=interval)
        pause_on = weekday_on_or_after(decision_day + timedelta(days=data.PAUSE["after_days"]))
        while day < self.today:
            if self.stage == "paused" and day >= pause_on:
                break
            fraction = trajectory[0] if len(trajectory) == 1 else trajectory.pop(0)
            self._scores(self.at(day, 9, 10), fraction, responding=True)
            day += timedelta(days=interval)
        if self.stage == "paused" and pause_on < self.today:
            course_services.phase_decide(
                actor=prescriber,
                course=course,
                to_phase=Phase.PAUSED,
                reason=data.PAUSE["reason"],
                at=self.at(pause_on, 12),
            )

    def _scores(self, when: datetime, fraction: float, *, responding: bool = False) -> None:
        for offset, code in enumerate(self.instruments):
            baseline = self.baselines[code]
            total = round(baseline * fraction)
            if fraction != 1.0:
                total = self._keep_story(
                    code, baseline, total + self.rng.choice((-1, 0, 1)), responding
                )
            outcome_services.assessment_submit(
                actor=self.clinician,
                patient=self.patient,
                instrument_code=code,
                answers=_answers(self.rng, code, total),
                completed_at=when + timedelta(minutes=5 * offset),
            )

    def _keep_story(self, code: str, baseline: int, total: int, responding: bool) -> int:
        """The random wobble never moves a score across the line the story is about: a
        non-responder stays under 25 % better (no partial response, PROT-23), a responder from
        the post-induction evaluation on meets the scale's response rule (scales.md, PROT-21)."""
        spec = outcome_services.instrument_current(code=code).spec
        total = max(0, min(total, baseline))
        if self.story["course"] == "none":
            while total < baseline and (baseline - total) * 4 >= baseline:
                total += 1
        elif responding:
            while (
                total > 0
                and not scoring.outcome(
                    spec, baseline_total=baseline, total=total, is_baseline=False
                ).response
            ):
                total -= 1
        return total

    def _decide(self, course: TreatmentCourse, when: datetime) -> Action:
        """The prescriber decides on the protocol's own proposal (PROT-23/24)."""
        course.refresh_from_db()
        proposal = course_proposal(course=course, history=course_score_history(course), now=when)
        if proposal is None:  # pragma: no cover - a course in induction always has one
            raise RuntimeError(f"No proposal for course {course.pk}.")
        numbers = proposal.numbers
        summary = (
            f"{course.primary_instrument} {numbers.get('baseline', '?')} -> "
            f"{numbers.get('current', '?')}"
            + (f" ({numbers['change_pct']} %)" if "change_pct" in numbers else "")
            + f". {proposal.explanation}"
        )
        if proposal.action == Action.MOVE_TO_MAINTENANCE:
            to_phase, extension = Phase.MAINTENANCE, 0
            reason = f"Responder: {summary} Monthly maintenance agreed with the patient."
        elif proposal.action == Action.EXTEND_INDUCTION:
            to_phase, extension = Phase.INDUCTION, EXTENSION_INFUSIONS
            reason = f"Partial response: {summary} Induction extended by {extension} infusions."
        else:
            to_phase, extension = Phase.DISCONTINUED, 0
            reason = f"Non-responder: {summary} Other treatments discussed with the patient."
        course_services.phase_decide(
            actor=self.cast.prescriber,
            course=course,
            to_phase=to_phase,
            reason=reason,
            proposal=proposal,
            extension_infusions=extension,
            at=when,
        )
        return proposal.action

    # -- dosing ----------------------------------------------------------------------------
    def _order(self, course: TreatmentCourse, when: datetime) -> DosingOrder:
        protocol = course.protocol
        order = dosing_services.dosing_order_create(
            actor=self.cast.prescriber,
            patient=self.patient,
            course=course,
            scope=OrderScope.STANDING,
            indication=self.indication,
            sex_for_dosing=self.patient.sex_at_birth,
            duration_min=protocol.default_duration_min,
            concentration_mg_per_ml=protocol.default_concentration_mg_per_ml,
            dose_mg_per_kg=protocol.default_dose_mg_per_kg,
            dose_mg_per_kg_per_h=protocol.default_dose_mg_per_kg_per_h,
            at=self.past(when),
        )
        return self._sign(order, when + timedelta(minutes=5))

    def _titrate(self, order: DosingOrder, when: datetime) -> DosingOrder:
        mg_per_kg, reason = self.story["titrate"]
        revised = dosing_services.dosing_order_revise(
            actor=self.cast.prescriber,
            order=order,
            change_reason=reason,
            changes={"dose_mg_per_kg": Decimal(mg_per_kg)},
            at=self.past(when),
        )
        return self._sign(revised, when + timedelta(minutes=5))

    def _sign(self, order: DosingOrder, when: datetime) -> DosingOrder:
        """LIM-15: the prescriber signs, every check of the signing service applied (hard stops,
        warnings with a reason, WT-8 fresh weight on the day, the booking gate). The prescriber
        re-authenticates once for the whole history (`dosing_order_sign` would verify the
        password again for each of the ~30 orders: half a second of Argon2 each)."""
        prescriber = self.cast.prescriber
        if not self.cast.signer_confirmed:
            if not user_reauthenticate(
                user=prescriber, secret=data.DEMO_PASSWORD, purpose="sign dosing orders"
            ):
                raise RuntimeError("The demo prescriber's password does not match.")
            self.cast.signer_confirmed = True
        warnings = [f["rule_id"] for f in order.findings if f["severity"] == "warning"]
        return dosing_services._sign(
            actor=prescriber,
            order=order,
            method=SignMethod.PASSWORD,
            warning_reason=(
                "Reviewed " + ", ".join(warnings) + ": acceptable for this patient, monitored."
            )
            if warnings
            else "",
            override_reason="",
            at=self.past(when),
        )
