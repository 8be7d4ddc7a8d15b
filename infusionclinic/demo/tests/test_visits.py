"""The demo's visits (issue 21 point 1): courses with a signed order get their infusions, the
controlled-substance ledger, invoices and today's day board, through the services.

The courses, decisions and signed orders are demo/history.py's (seed_demo runs it first); the
clock is set to a Wednesday at 13:30 in Boston so that today's
board falls in opening hours, and runs on from there."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from unittest import mock
from zoneinfo import ZoneInfo

from django.core.management import call_command
from django.test import TestCase, override_settings
from django.utils import timezone

from infusionclinic.accounts.roles import Role
from infusionclinic.billing.models import Invoice, PackageRedemption, Payment
from infusionclinic.controlled.models import (
    Count,
    Discrepancy,
    DiscrepancyStatus,
    EntryKind,
    LedgerEntry,
    Lot,
)
from infusionclinic.controlled.services import balance_ml
from infusionclinic.courses.models import TreatmentCourse
from infusionclinic.demo.visits import visits_build
from infusionclinic.infusions.conf import conf
from infusionclinic.infusions.models import InfusionSession, PumpEvent, VitalAlert, VitalSign
from infusionclinic.scheduling.models import Appointment

# Wednesday 2026-11-18, 13:30 in Boston (11:30 in Denver).
FIXED = datetime(2026, 11, 18, 13, 30, tzinfo=ZoneInfo("America/New_York"))
BOARD_STATES = {
    "scheduled",
    "checked_in",
    "pre_checks",
    "infusing",
    "paused",
    "recovering",
    "discharged",
}

_real_now = timezone.now


def _clock():  # noqa: ANN202
    started = _real_now()
    return lambda: FIXED + (_real_now() - started)


class DemoVisitsTests(TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.clock = mock.patch("django.utils.timezone.now", _clock())
        cls.clock.start()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        cls.clock.stop()

    @classmethod
    def setUpTestData(cls) -> None:
        # seed_demo runs demo/history.py (courses, decisions, signed orders), then the visits.
        with override_settings(DEMO_MODE=True):
            call_command("seed_demo", stdout=StringIO())
        cls.counts = cls._counts()

    @staticmethod
    def _counts() -> dict[str, int]:
        models = [Appointment, InfusionSession, VitalSign, LedgerEntry, Count, Invoice, Payment]
        return {m.__name__: m.objects.count() for m in models}

    def test_each_course_gets_weekly_induction_then_monthly_maintenance(self) -> None:
        """PROT-10 weekly induction for the protocol's count; PROT-30 maintenance after the
        decision; nothing after a discontinuation."""
        midnight = FIXED.replace(hour=0, minute=0)
        maintained = [
            c
            for c in TreatmentCourse.objects.filter(phase="maintenance")
            if c.appointments.filter(starts_at__lt=midnight).count() > c.protocol.induction_count
        ]
        assert maintained
        for course in maintained:
            tz = course.patient.home_location.tzinfo
            days = [
                a.starts_at.astimezone(tz).date()
                for a in course.appointments.filter(starts_at__lt=midnight).order_by("starts_at")
            ]
            gaps = [(b - a).days for a, b in zip(days, days[1:], strict=False)]
            n = course.protocol.induction_count + course.extension_infusions_used
            assert all(5 <= g <= 9 for g in gaps[: n - 1]), gaps
            assert all(g >= course.protocol.maintenance_interval_days - 3 for g in gaps[n:]), gaps
        stopped = TreatmentCourse.objects.filter(phase__in=["discontinued", "paused"])
        assert stopped.exists()
        for course in stopped:
            decision = course.decisions.filter(to_phase=course.phase).get()
            assert not course.appointments.filter(starts_at__gte=decision.decided_at).exists()

    def test_past_sessions_complete_with_vitals_every_interval(self) -> None:
        """MON-T1 pre-infusion reading, MON-T2 every 10 min while infusing and MON-T3 at the
        end, MON-T4 every 15 min in recovery for MON-T5's hour; discharged with a signed note."""
        today = timezone.localdate()
        past = InfusionSession.objects.filter(scheduled_at__date__lt=today - timedelta(days=1))
        assert past.count() >= 20
        during = timedelta(minutes=conf("interval_infusing_min"))
        after = timedelta(minutes=conf("interval_recovering_min"))
        for session in past:
            assert session.state == "discharged", session.pk
            note = session.note
            assert note.nurse_signed_at
            assert note.prescriber_signed_at
            assert session.discharge_scores.exists()
            pump = list(session.pump.order_by("at"))
            start, stop = pump[0], pump[-1]
            assert (start.action, stop.action) == ("start", "stop")
            vitals = list(session.vitals.order_by("taken_at"))
            assert any(v.phase == "pre" and v.taken_at <= start.at for v in vitals)
            running = [v.taken_at for v in vitals if v.phase == "infusion"]
            marks = [start.at, *running]
            assert all(b - a <= during for a, b in zip(marks, marks[1:], strict=False))
            assert running[-1] == stop.at  # MON-T3
            recovery = [stop.at, *[v.taken_at for v in vitals if v.phase == "recovery"]]
            assert all(b - a <= after for a, b in zip(recovery, recovery[1:], strict=False))
            assert recovery[-1] - stop.at >= timedelta(minutes=conf("min_observation_min"))
            assert not session.alerts.filter(acknowledged_at__isnull=True).exists()

    def test_blood_pressure_alerts_side_effects_and_one_paused_infusion(self) -> None:
        """MON-BP-3: the paused infusion's reading, acknowledged, resumed by the prescriber."""
        bp3 = VitalAlert.objects.filter(rule_id="MON-BP-3")
        assert bp3.exists()
        assert all(a.acknowledged_at for a in bp3)
        pause = PumpEvent.objects.filter(action="pause", session__state="discharged").get()
        resume = PumpEvent.objects.get(session=pause.session, action="resume")
        assert resume.actor.role == Role.PRESCRIBER
        assert resume.at > pause.at
        assert VitalAlert.objects.filter(rule_id="MON-BP-5", acknowledged_at__isnull=False)
        grades = set(
            InfusionSession.objects.filter(side_effects__isnull=False).values_list(
                "side_effects__grade", flat=True
            )
        )
        assert grades
        assert grades <= {1, 2}

    def test_ledger_balances_per_lot_with_zero_unexplained_difference(self) -> None:
        """CS-41/CS-43: every lot's balance is receipts less draws (and destructions); every
        closed session's dose is administered or wasted (CS-32 against the pump); the latest
        count of each lot equals its balance; the one discrepancy was recounted by two and
        resolved (§7)."""
        from infusionclinic.infusions.dose import session_dose_check

        lots = list(Lot.objects.all())
        assert lots
        for lot in lots:
            entries = list(lot.entries.order_by("seq"))
            assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
            assert sum((e.delta_ml for e in entries), Decimal(0)) == balance_ml(lot)
            assert balance_ml(lot) >= 0
            # The latest close-of-business count found what the ledger held; only today's
            # entries (the day is not closed yet) came after it.
            last = lot.counts.order_by("-counted_at", "-pk").first()
            assert last is not None
            assert last.counted_ml == last.expected_ml
            since = sum(
                (e.delta_ml for e in entries if e.occurred_at > last.counted_at), Decimal(0)
            )
            assert last.expected_ml + since == balance_ml(lot)
        for session in InfusionSession.objects.filter(state="discharged"):
            check = session_dose_check(session)
            assert check.lines, session.pk
            assert not check.problems, (session.pk, check.problems)
        assert LedgerEntry.objects.filter(kind=EntryKind.WASTE, witness__isnull=False).exists()
        discrepancy = Discrepancy.objects.get()
        assert discrepancy.status == DiscrepancyStatus.RESOLVED
        assert discrepancy.recount_first_by_id != discrepancy.recount_second_by_id
        assert all(lot.storage for lot in lots)  # CS-9

    def test_every_completed_infusion_appointment_has_an_invoice(self) -> None:
        """CODE-PX1/PX2 from the pump: one invoice per completed appointment; a package paid
        for some; payments recorded (ManualProvider)."""
        completed = Appointment.objects.filter(status="completed", kind="infusion")
        assert completed.exists()
        for appointment in completed:
            invoice = Invoice.objects.get(appointment=appointment)
            assert invoice.lines.filter(code="96365").exists()
            assert invoice.infusion_running
        assert PackageRedemption.objects.exists()
        assert Payment.objects.filter(provider="manual").exists()

    def test_todays_board_has_a_chair_in_every_state(self) -> None:
        today_sessions = InfusionSession.objects.filter(
            scheduled_at__gte=FIXED.replace(hour=0, minute=0),
            scheduled_at__lt=FIXED.replace(hour=23, minute=59),
        )
        assert set(today_sessions.values_list("state", flat=True)) >= BOARD_STATES

    def test_courses_still_running_have_their_next_infusion_booked(self) -> None:
        """PROT-10 / PROT-30: an open course's next infusion is booked ahead; none for a
        discontinued one."""
        tomorrow = FIXED.replace(hour=0, minute=0) + timedelta(days=1)
        ahead = Appointment.objects.filter(status="booked", starts_at__gte=tomorrow)
        assert ahead.filter(course__phase__in=["induction", "maintenance"]).exists()
        assert not ahead.filter(course__phase__in=["discontinued", "paused"]).exists()

    def test_running_it_again_adds_nothing(self) -> None:
        visits_build()
        assert self._counts() == self.counts
        with override_settings(DEMO_MODE=True):
            call_command("seed_demo", stdout=StringIO())
        assert self._counts() == self.counts
