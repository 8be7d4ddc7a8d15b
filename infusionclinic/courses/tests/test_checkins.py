"""Issue 18 section 2: check-ins on the schedule the protocol version sets — created in the
patient's zone (DST-correct), reminded once and repeated once, stopped with the course, a mail
with no health information and a one-time expiring link, scored by the one engine with the
SCALE-4 alerts, and the prescriber's flags."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.test import override_settings

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.courses import checkins, services
from infusionclinic.courses.models import CheckIn, Phase
from infusionclinic.outcomes.models import AssessmentSource, SafetyAlert
from infusionclinic.outcomes.services import assessment_submit
from tests.factories import logged_in_client, make_user

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
PHQ9_CALM = [0] * 9
PHQ9_ITEM9 = [0] * 8 + [1]  # SCALE-4: item 9 >= 1


def _course(prescriber, patient, *, started_local, indication="depression"):
    return services.course_start(
        actor=prescriber,
        patient=patient,
        indication=indication,
        started_at=started_local.astimezone(UTC),
    )


def _checkin(course, *, code="PHQ-9", due_local):
    """A check-in as checkins_create_due writes it (for the link, submit and flag tests)."""
    return CheckIn.objects.create(
        course=course,
        instrument_code=code,
        phase=course.phase,
        every_days=7,
        due_on=due_local.date(),
        due_at=due_local.astimezone(UTC),
    )


@pytest.fixture
def patient_user(location, patient):
    return make_user("patient", location, patient=patient)


# --- Creation: the schedule, the zone, DST ------------------------------------------------------


@pytest.mark.parametrize(
    ("started", "first_due_utc"),
    [
        # Clocks go back on Sunday 1 November 2026: 09:00 EDT was 13:00 UTC, 09:00 EST is 14:00.
        (datetime(2026, 10, 28, 10, 0, tzinfo=NY), datetime(2026, 11, 4, 14, 0, tzinfo=UTC)),
        # Clocks go forward on Sunday 8 March 2026: 09:00 EDT is 13:00 UTC.
        (datetime(2026, 3, 4, 10, 0, tzinfo=NY), datetime(2026, 3, 11, 13, 0, tzinfo=UTC)),
    ],
)
def test_a_checkin_due_the_week_the_clocks_change_is_due_at_0900_local(
    prescriber, patient, started, first_due_utc
):
    """Issue 18 section 2: due at local 09:00 (CHECKINS_DUE_LOCAL_TIME) in the patient's home
    location's zone, DST-correct."""
    course = _course(prescriber, patient, started_local=started)
    assert checkins.checkins_create_due(now=first_due_utc - timedelta(minutes=1)) == []
    created = checkins.checkins_create_due(now=first_due_utc)
    # Induction (issue 18 defaults): PHQ-9 and GAD-7 weekly.
    assert sorted(c.instrument_code for c in created) == ["GAD-7", "PHQ-9"]
    for checkin in created:
        assert checkin.course == course
        assert checkin.due_at == first_due_utc
        local = checkin.due_at.astimezone(NY)
        assert (local.hour, local.minute) == (9, 0)
        assert checkin.due_on == local.date()
    # Run again: nothing new in the same period.
    assert checkins.checkins_create_due(now=first_due_utc + timedelta(hours=3)) == []
    assert AuditEvent.objects.filter(action=AuditAction.CREATE, object_type__icontains="checkin")


def test_maintenance_uses_its_own_schedule_phq9_every_two_weeks(prescriber, patient):
    course = _course(prescriber, patient, started_local=datetime(2026, 9, 1, 10, tzinfo=NY))
    services.phase_decide(
        actor=prescriber,
        course=course,
        to_phase=Phase.MAINTENANCE,
        reason="Responded.",
        at=datetime(2026, 9, 20, 12, tzinfo=NY),
    )
    assert checkins.checkins_create_due(now=datetime(2026, 9, 30, 12, tzinfo=NY)) == []
    created = checkins.checkins_create_due(now=datetime(2026, 10, 4, 9, tzinfo=NY))
    assert [(c.instrument_code, c.every_days, c.phase) for c in created] == [
        ("PHQ-9", 14, Phase.MAINTENANCE)
    ]


def test_a_course_keeps_its_protocol_versions_schedule(location, prescriber, patient):
    """Issue 18 section 2: a new protocol version changes the schedule for new courses only."""
    course = _course(prescriber, patient, started_local=datetime(2026, 9, 1, 10, tzinfo=NY))
    services.protocol_revise(
        actor=prescriber,
        protocol=course.protocol,
        changes={"checkin_schedule": {"induction": [{"instrument": "PHQ-9", "every_days": 2}]}},
    )
    created = checkins.checkins_create_due(now=datetime(2026, 9, 8, 9, tzinfo=NY))
    assert sorted((c.instrument_code, c.every_days) for c in created) == [
        ("GAD-7", 7),
        ("PHQ-9", 7),
    ]


# --- Reminder: once, repeated once, stopped with the course, no health words -------------------


HEALTH_WORDS = re.compile(
    r"phq|gad|pcl|pain|nrs|depress|anxi|ptsd|mood|suicid|self-harm|ketamine|infusion|score|"
    r"questionnaire|dose|alert|safety|crisis",
    re.IGNORECASE,
)


def test_the_reminder_is_sent_then_repeated_once_after_48_hours(
    prescriber, patient, patient_user, mailoutbox
):
    """Issue 18 section 2: a reminder on creation, one repeat 48 h later if not done, no more."""
    _course(prescriber, patient, started_local=datetime(2026, 10, 28, 10, tzinfo=NY))
    due = datetime(2026, 11, 4, 14, 0, tzinfo=UTC)
    counts = checkins.checkins_dispatch(now=due)
    assert counts == {"created": 2, "reminders": 2, "repeats": 0}
    assert len(mailoutbox) == 2
    assert checkins.checkins_dispatch(now=due + timedelta(hours=47))["repeats"] == 0
    assert len(mailoutbox) == 2
    # The task stamps its own send time; the repeat is due 48 h after it.
    CheckIn.objects.update(reminder_sent_at=due)
    assert checkins.checkins_dispatch(now=due + timedelta(hours=48))["repeats"] == 2
    assert len(mailoutbox) == 4
    assert checkins.checkins_dispatch(now=due + timedelta(hours=100)) == {
        "created": 0,
        "reminders": 0,
        "repeats": 0,
    }
    assert len(mailoutbox) == 4
    assert {m.to[0] for m in mailoutbox} == {patient.email}


def test_a_done_checkin_gets_no_repeat(prescriber, patient, patient_user, mailoutbox):
    _course(prescriber, patient, started_local=datetime(2026, 10, 28, 10, tzinfo=NY))
    due = datetime(2026, 11, 4, 14, 0, tzinfo=UTC)
    checkins.checkins_dispatch(now=due)
    for checkin in CheckIn.objects.all():
        answers = PHQ9_CALM if checkin.instrument_code == "PHQ-9" else [0] * 7
        checkins.checkin_submit(actor=patient_user, checkin=checkin, answers=answers)
    CheckIn.objects.update(reminder_sent_at=due)
    assert checkins.checkins_dispatch(now=due + timedelta(hours=49))["repeats"] == 0
    assert len(mailoutbox) == 2


@pytest.mark.parametrize("to_phase", [Phase.PAUSED, Phase.DISCONTINUED])
def test_checkins_stop_when_the_course_is_paused_or_discontinued(
    prescriber, patient, patient_user, mailoutbox, to_phase
):
    """Issue 18 section 2: no new check-in, no reminder, no repeat once the course stops."""
    course = _course(prescriber, patient, started_local=datetime(2026, 10, 28, 10, tzinfo=NY))
    due = datetime(2026, 11, 4, 14, 0, tzinfo=UTC)
    checkins.checkins_dispatch(now=due)
    assert len(mailoutbox) == 2
    services.phase_decide(
        actor=prescriber, course=course, to_phase=to_phase, reason="Travelling.", at=due
    )
    CheckIn.objects.update(reminder_sent_at=due)
    assert checkins.checkins_dispatch(now=due + timedelta(days=9)) == {
        "created": 0,
        "reminders": 0,
        "repeats": 0,
    }
    assert len(mailoutbox) == 2
    # A reminder task already queued before the pause sends nothing either.
    checkin = CheckIn.objects.first()
    checkins.send_checkin_reminder_task.call(checkin_id=checkin.pk, repeat=True)
    assert len(mailoutbox) == 2


def test_the_reminder_mail_has_no_health_information(
    location, prescriber, patient, patient_user, mailoutbox
):
    """Issue 18 section 2: "You have a check-in from <clinic>" and a link, nothing else."""
    _course(prescriber, patient, started_local=datetime(2026, 10, 28, 10, tzinfo=NY))
    checkins.checkins_dispatch(now=datetime(2026, 11, 4, 14, 0, tzinfo=UTC))
    message = mailoutbox[0]
    clinic = location.clinic.name
    assert message.subject == f"You have a check-in from {clinic}"
    assert f"You have a check-in from {clinic}." in message.body
    assert "/my/check-ins/open/" in message.body
    # The signed link's random token may spell anything ("pCl"): check the words around it.
    text = re.sub(r"https?://\S+", "<link>", message.subject + "\n" + message.body)
    assert not HEALTH_WORDS.search(text), HEALTH_WORDS.search(text)
    for word in (patient.given_name, patient.family_name, patient.mrn):
        assert word not in text
    assert message.attachments == []


def test_checkins_due_command_runs_the_dispatch(
    prescriber, patient, patient_user, mailoutbox, capsys
):
    _course(
        prescriber,
        patient,
        started_local=datetime.now(tz=NY) - timedelta(days=8),
    )
    call_command("checkins_due")
    assert "2 check-in(s) created, 2 reminder(s)" in capsys.readouterr().out
    assert len(mailoutbox) == 2


def test_a_patient_without_a_portal_log_in_gets_no_reminder(prescriber, patient, mailoutbox):
    """The link opens only after log-in: no mail to a chart with no portal account (the
    check-in is still created, and the missed-period flag still counts it)."""
    _course(prescriber, patient, started_local=datetime(2026, 10, 28, 10, tzinfo=NY))
    counts = checkins.checkins_dispatch(now=datetime(2026, 11, 4, 14, 0, tzinfo=UTC))
    assert counts == {"created": 2, "reminders": 0, "repeats": 0}
    assert mailoutbox == []


# --- The link: one-time, expiring, after log-in -------------------------------------------------


def _link_path(message) -> str:
    return re.search(r"(/my/check-ins/open/\S+/)", message.body).group(1)


def test_the_link_opens_the_questionnaire_after_log_in_and_works_once(
    prescriber, patient, patient_user, mailoutbox
):
    _course(prescriber, patient, started_local=datetime.now(tz=NY) - timedelta(days=8))
    checkins.checkins_dispatch()
    path = _link_path(mailoutbox[0])
    anonymous = logged_in_client(patient_user)
    anonymous.logout()
    first = anonymous.get(path)
    assert first.status_code == 302
    assert "/login" in first["Location"]
    client = logged_in_client(patient_user)
    opened = client.get(path)
    assert opened.status_code == 302
    fill = client.get(opened["Location"])
    assert fill.status_code == 200
    assert 'name="submit"' in fill.content.decode()
    again = client.get(path)
    assert again.status_code == 410
    assert "already used" in again.content.decode()


def test_the_link_expires(prescriber, patient, patient_user, mailoutbox):
    _course(prescriber, patient, started_local=datetime.now(tz=NY) - timedelta(days=8))
    checkins.checkins_dispatch()
    path = _link_path(mailoutbox[0])
    client = logged_in_client(patient_user)
    with override_settings(CHECKINS_LINK_MAX_AGE_HOURS=0):
        response = client.get(path)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    # Unused: still opens within its age.
    assert client.get(path).status_code == 302


def test_an_altered_link_or_another_patients_opens_nothing(
    location, prescriber, patient, patient_user, mailoutbox
):
    from tests.factories import PatientFactory

    _course(prescriber, patient, started_local=datetime.now(tz=NY) - timedelta(days=8))
    checkins.checkins_dispatch()
    path = _link_path(mailoutbox[0])
    client = logged_in_client(patient_user)
    assert client.get(path[:-3] + "x/").status_code == 410
    other = make_user("patient", location, patient=PatientFactory(home_location=location))
    assert logged_in_client(other).get(path).status_code == 404
    assert logged_in_client(prescriber).get(path).status_code in (403, 404)
    # Still unused by its owner.
    assert client.get(path).status_code == 302


# --- Submit: the one engine, SCALE-4, crisis resources ------------------------------------------


def test_a_submitted_checkin_is_scored_and_raises_scale4_with_crisis_resources(
    location, prescriber, nurse, patient, patient_user, mailoutbox
):
    """Issue 18 section 2 / SCALE-4: PHQ-9 item 9 >= 1 at home → the patient sees 988 and the
    clinic's number at once; the prescriber and the location's nurses are mailed; the alert
    waits for a prescriber's acknowledgement."""
    location.phone = "+1 212 555 0100"
    location.save()
    course = _course(prescriber, patient, started_local=datetime.now(tz=NY) - timedelta(days=8))
    checkin = _checkin(course, due_local=datetime.now(tz=NY) - timedelta(hours=1))
    client = logged_in_client(patient_user)
    url = f"/my/check-ins/{checkin.pk}/"
    data = {f"item_{i}": str(v) for i, v in enumerate(PHQ9_ITEM9, start=1)} | {"submit": "1"}
    form_page = client.get(url).content.decode()
    assert 'name="item_1"' in form_page, form_page[:500]
    done = client.post(url, data)
    assert done.status_code == 302, done.content.decode()[:2000]
    page = client.get(done["Location"]).content.decode()
    assert "988" in page
    assert "+1 212 555 0100" in page
    checkin.refresh_from_db()
    assessment = checkin.assessment
    assert (assessment.total, assessment.source) == (1, AssessmentSource.HOME_CHECKIN)
    alert = SafetyAlert.objects.get(assessment=assessment)
    assert (alert.rule_id, alert.is_open) == ("SCALE-4", True)
    recipients = {to for m in mailoutbox for to in m.to}
    assert {prescriber.email, nurse.email} <= recipients
    # Done: the page now shows the result, and a second submit is refused.
    assert client.get(url).status_code == 302
    assert client.post(url, data).status_code == 302


def test_clinic_scale4_alerts_still_mail_prescribers_only(prescriber, nurse, patient, mailoutbox):
    assessment_submit(actor=nurse, patient=patient, instrument_code="PHQ-9", answers=PHQ9_ITEM9)
    recipients = {to for m in mailoutbox for to in m.to}
    assert prescriber.email in recipients
    assert nurse.email not in recipients


# --- Flags on the prescriber's home -------------------------------------------------------------


def test_worsening_phq9_up_5_is_flagged_on_the_prescribers_home(
    prescriber, nurse, patient, patient_user
):
    """Issue 18 section 2: PHQ-9 up >= 5 from the last score (CHECKINS_WORSENING_POINTS)."""
    now = datetime.now(tz=UTC)
    course = _course(prescriber, patient, started_local=(now - timedelta(days=10)).astimezone(NY))
    assessment_submit(
        actor=nurse,
        patient=patient,
        instrument_code="PHQ-9",
        answers=[1] * 8 + [0],  # 8
        completed_at=now - timedelta(days=9),
    )
    checkin = _checkin(course, due_local=(now - timedelta(days=3)).astimezone(NY))
    home = logged_in_client(prescriber)
    assert "PHQ-9 up" not in home.get("/home/").content.decode()
    checkins.checkin_submit(
        actor=patient_user, checkin=checkin, answers=[2] * 4 + [1] * 4 + [0]
    )  # 12: up 4, not flagged
    assert checkins.checkin_flags_for_user(user=prescriber) == []
    later = _checkin(course, due_local=(now - timedelta(hours=1)).astimezone(NY))
    checkins.checkin_submit(
        actor=patient_user, checkin=later, answers=[2] * 8 + [0]
    )  # 16: up 4 from 12 -> still not
    assert checkins.checkin_flags_for_user(user=prescriber) == []
    assessment_submit(
        actor=nurse, patient=patient, instrument_code="PHQ-9", answers=[3] * 7 + [0, 0]
    )  # 21: up 5
    page = home.get("/home/").content.decode()
    assert "Check-in flags" in page
    assert "PHQ-9 up 5 (16 → 21, clinic," in page
    assert patient.mrn in page
    assert f"/courses/{course.pk}/" in page
    assert AuditEvent.objects.filter(
        actor=prescriber, action=AuditAction.VIEW, detail__page="check-in flags"
    ).exists()
    # Nurses do not get the prescriber's flag list.
    assert checkins.checkin_flags_for_user(user=nurse) == []


def test_no_checkin_for_two_due_periods_is_flagged(prescriber, patient, patient_user):
    """Issue 18 section 2: "no check-in for 2 due periods" (CHECKINS_MISSED_PERIODS)."""
    course = _course(prescriber, patient, started_local=datetime(2026, 9, 1, 10, tzinfo=NY))
    for week in (1, 2, 3):
        checkins.checkins_create_due(now=datetime(2026, 9, 1 + 7 * week, 9, 30, tzinfo=NY))
    # Period 1 and 2 ended unanswered; period 3 is still open.
    now = datetime(2026, 9, 23, 12, tzinfo=NY)
    flags = checkins.checkin_flags_for_user(user=prescriber, now=now)
    texts = sorted(f.text for f in flags)
    assert texts == [
        "No GAD-7 check-in for 2 due periods (due 2026-09-08, 2026-09-15)",
        "No PHQ-9 check-in for 2 due periods (due 2026-09-08, 2026-09-15)",
    ]
    assert {f.course for f in flags} == {course}
    # Only one period missed: no flag.
    assert (
        checkins.checkin_flags_for_user(user=prescriber, now=datetime(2026, 9, 16, tzinfo=NY)) == []
    )
    # The patient answers the current one: the PHQ-9 flag clears.
    current = CheckIn.objects.get(instrument_code="PHQ-9", due_on="2026-09-22")
    checkins.checkin_submit(actor=patient_user, checkin=current, answers=PHQ9_CALM)
    texts = [f.text for f in checkins.checkin_flags_for_user(user=prescriber, now=now)]
    assert texts == ["No GAD-7 check-in for 2 due periods (due 2026-09-08, 2026-09-15)"]
    # A paused course is not flagged.
    services.phase_decide(actor=prescriber, course=course, to_phase=Phase.PAUSED, reason="Away.")
    assert checkins.checkin_flags_for_user(user=prescriber, now=now) == []


# --- The course proposal reads home scores and names its source ---------------------------------


def test_the_proposal_uses_a_home_checkin_score_and_says_so(
    prescriber, nurse, patient, patient_user
):
    """Issue 18 section 2: the course proposal (courses/proposals.py, PROT-20/21/23) reads home
    check-ins as well as clinic scores and names the one it used."""
    from infusionclinic.courses.selectors import course_proposal_from_scores

    now = datetime.now(tz=UTC)
    started = now - timedelta(days=30)
    course = _course(prescriber, patient, started_local=started.astimezone(NY))
    assessment_submit(
        actor=nurse,
        patient=patient,
        instrument_code="PHQ-9",
        answers=[2] * 9,  # 18, the PROT-13 baseline
        completed_at=started - timedelta(days=1),
    )
    proposal, _ = course_proposal_from_scores(course=course)
    assert proposal.numbers["score_used"] == (
        f"PHQ-9 18 (clinic, {started - timedelta(days=1):%Y-%m-%d})"
    )
    checkin = _checkin(course, due_local=(now - timedelta(hours=1)).astimezone(NY))
    checkins.checkin_submit(actor=patient_user, checkin=checkin, answers=[1] * 8 + [0])  # 8
    proposal, _ = course_proposal_from_scores(course=course)
    checkin.refresh_from_db()
    day = f"{checkin.assessment.completed_at.astimezone(UTC):%Y-%m-%d}"
    assert proposal.numbers["current"] == f"8 (home check-in, {day})"
    assert proposal.numbers["score_used"] == f"PHQ-9 8 (home check-in, {day})"
    assert proposal.numbers["baseline"].startswith("18 (clinic, ")
    assert proposal.action.value == "move_to_maintenance"  # PROT-21: 55.6 % >= 50 %
    page = logged_in_client(prescriber).get(f"/courses/{course.pk}/").content.decode()
    assert f"PHQ-9 8 (home check-in, {day})" in page
    assert "PHQ-9 every 7 days, GAD-7 every 7 days" in page
    outcomes = logged_in_client(nurse).get(f"/patients/{patient.pk}/outcomes/").content.decode()
    assert "Patient (self-report), home check-in" in outcomes
