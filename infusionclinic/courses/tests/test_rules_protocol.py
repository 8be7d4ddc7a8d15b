"""protocol.md §5.4 re-induction rules on treatment courses (issue 21 part 2): PROT-41 (fresh
baseline, re-screening, re-consent before a re-induction) and PROT-42 (no new induction for a
non-responder without a documented override). Both fail on main, which had neither check."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.courses import services
from infusionclinic.courses.models import Phase, TreatmentCourse
from infusionclinic.intake.models import ConsentSignature
from infusionclinic.intake.tests.factories import bookable_patient
from infusionclinic.outcomes.services import assessment_submit
from infusionclinic.patients.services import diagnosis_add
from tests.factories import api_client, logged_in_client, make_user

pytestmark = pytest.mark.django_db


def _nonresponder(prescriber, patient) -> TreatmentCourse:
    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    services.phase_decide(
        actor=prescriber, course=course, to_phase="discontinued", reason="No response (PROT-23)"
    )
    return course


def test_prot42_a_nonresponder_is_not_reinduced_without_a_documented_override(prescriber, patient):
    _nonresponder(prescriber, patient)
    with pytest.raises(ValidationError) as err:
        services.course_start(actor=prescriber, patient=patient, indication="depression")
    assert "PROT-42" in str(err.value.message_dict["override_reason"])
    with pytest.raises(ValidationError):
        services.course_start(
            actor=prescriber, patient=patient, indication="depression", override_reason="  "
        )
    course = services.course_start(
        actor=prescriber,
        patient=patient,
        indication="depression",
        override_reason="New episode; partial benefit reported at week 3.",
    )
    first = course.decisions.get()
    assert first.proposal_rule_ids == ["PROT-10", "PROT-42"]
    assert "New episode" in first.reason
    event = AuditEvent.objects.filter(action=AuditAction.CREATE, object_id=str(course.pk)).get()
    assert event.detail["override_rule"] == "PROT-42"


def test_prot42_only_a_course_stopped_after_induction_needs_the_override(prescriber, patient):
    """A course that reached maintenance and then ended was a responder; another indication is
    another question."""
    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    services.phase_decide(actor=prescriber, course=course, to_phase="maintenance", reason="60 %")
    services.phase_decide(actor=prescriber, course=course, to_phase="completed", reason="well")
    services.course_start(actor=prescriber, patient=patient, indication="depression")
    _other = services.course_start(actor=prescriber, patient=patient, indication="anxiety")
    services.phase_decide(actor=prescriber, course=_other, to_phase="discontinued", reason="NR")
    services.course_start(actor=prescriber, patient=patient, indication="ptsd")


def test_prot42_api_takes_the_override_reason(location, prescriber, patient):
    _nonresponder(prescriber, patient)
    client = api_client(prescriber)
    payload = {"patient_id": patient.pk, "indication": "depression"}
    refused = client.post("/api/v1/courses", payload, content_type="application/json")
    assert refused.status_code in (400, 422)
    assert "PROT-42" in refused.content.decode()
    accepted = client.post(
        "/api/v1/courses",
        {**payload, "override_reason": "Prescriber review 2026-12-01"},
        content_type="application/json",
    )
    assert accepted.status_code == 201, accepted.content[:300]


@pytest.fixture
def in_maintenance(prescriber, patient):
    course = services.course_start(
        actor=prescriber,
        patient=patient,
        indication="depression",
        started_at=timezone.now() - timedelta(days=60),
    )
    services.phase_decide(actor=prescriber, course=course, to_phase="maintenance", reason="60 %")
    course.refresh_from_db()
    return course


def test_prot41_reinduction_needs_fresh_baseline_rescreening_and_reconsent(
    prescriber, nurse, patient, in_maintenance
):
    make_user("patient", patient=patient)
    diagnosis_add(actor=prescriber, patient=patient, code="F43.10", is_primary=True)
    with pytest.raises(ValidationError) as err:
        services.phase_decide(
            actor=prescriber, course=in_maintenance, to_phase="induction", reason="lost response"
        )
    message = " ".join(err.value.message_dict["to_phase"])
    assert "PROT-41" in message
    assert "baseline PHQ-9" in message
    assert "screening" in message
    assert "Re-consent" in message
    # A baseline score alone is not enough.
    assessment_submit(actor=nurse, patient=patient, instrument_code="PHQ-9", answers=[2] * 8 + [0])
    with pytest.raises(ValidationError) as err:
        services.phase_decide(
            actor=prescriber, course=in_maintenance, to_phase="induction", reason="lost response"
        )
    assert "baseline" not in " ".join(err.value.message_dict["to_phase"])
    # Re-screened (eligible) and re-consented since maintenance began: re-induction goes ahead.
    bookable_patient(patient, staff=prescriber)
    services.phase_decide(
        actor=prescriber, course=in_maintenance, to_phase="induction", reason="lost response"
    )
    in_maintenance.refresh_from_db()
    assert in_maintenance.phase == Phase.INDUCTION


def test_prot41_reinduction_needs_every_required_consent_current(
    prescriber, nurse, patient, in_maintenance
):
    """A consent not countersigned (or a newer version not signed) blocks the re-induction."""
    make_user("patient", patient=patient)
    diagnosis_add(actor=prescriber, patient=patient, code="F43.10", is_primary=True)
    bookable_patient(patient, staff=prescriber)
    assessment_submit(actor=nurse, patient=patient, instrument_code="PHQ-9", answers=[0] * 9)
    assert services.reinduction_blockers(course=in_maintenance) == []
    ConsentSignature.objects.filter(patient=patient).update(countersigned_at=None)
    blockers = services.reinduction_blockers(course=in_maintenance)
    assert blockers
    assert all("Re-consent" in b and "PROT-41" in b for b in blockers)


def test_prot41_a_screening_from_before_the_phase_is_not_a_rescreening(
    prescriber, nurse, patient, in_maintenance
):
    from infusionclinic.intake.models import EligibilityScreening

    make_user("patient", patient=patient)
    diagnosis_add(actor=prescriber, patient=patient, code="F43.10", is_primary=True)
    bookable_patient(patient, staff=prescriber)
    assessment_submit(actor=nurse, patient=patient, instrument_code="PHQ-9", answers=[0] * 9)
    EligibilityScreening.objects.filter(patient=patient).update(
        ran_at=in_maintenance.phase_started_at - timedelta(days=1)
    )
    (blocker,) = services.reinduction_blockers(course=in_maintenance)
    assert "screening run since" in blocker


def test_prot41_resuming_a_paused_induction_is_not_a_reinduction(prescriber, patient):
    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    services.phase_decide(actor=prescriber, course=course, to_phase="paused", reason="travel")
    services.phase_decide(actor=prescriber, course=course, to_phase="induction", reason="back")
    course.refresh_from_db()
    assert course.phase == Phase.INDUCTION


def test_prot41_a_paused_maintenance_going_back_to_induction_is_a_reinduction(
    prescriber, in_maintenance
):
    services.phase_decide(
        actor=prescriber, course=in_maintenance, to_phase="paused", reason="travel"
    )
    with pytest.raises(ValidationError) as err:
        services.phase_decide(
            actor=prescriber, course=in_maintenance, to_phase="induction", reason="relapse"
        )
    assert "PROT-41" in " ".join(err.value.message_dict["to_phase"])


# --- PROT-4, PROT-31, PROT-33 on the course page ----------------------------------------------


def test_prot4_evidence_differs_by_indication_on_the_course_page(prescriber, patient):
    """PROT-4: the page states each indication's evidence (TRD single infusion CANMAT Level 1,
    CRPS grade B, fibromyalgia weak or none) rather than presenting all as equally proven."""
    from infusionclinic.courses.selectors import indication_evidence

    assert "CANMAT Level 1" in " ".join(indication_evidence("depression"))
    pain = " ".join(indication_evidence("pain"))
    assert "CRPS: moderate evidence (grade B)" in pain
    assert "Fibromyalgia" in pain
    assert "weak or no evidence" in pain
    assert "not graded" in " ".join(indication_evidence("ptsd"))
    course = services.course_start(actor=prescriber, patient=patient, indication="pain")
    page = logged_in_client(prescriber).get(reverse("courses:course", args=[course.pk]))
    assert "CRPS: moderate evidence (grade B)" in page.content.decode()
    assert "PROT-4" in page.content.decode()


def test_prot31_prot33_maintenance_shows_limited_evidence_and_a_review_date(
    prescriber, in_maintenance, settings
):
    """PROT-31: maintenance rests on CANMAT Level 3 evidence; PROT-33: it has a review date of
    continued need (COURSE_MAINTENANCE_REVIEW_DAYS after maintenance began), overdue after."""
    from infusionclinic.courses.selectors import course_review_due

    settings.COURSE_MAINTENANCE_REVIEW_DAYS = 182
    due = course_review_due(course=in_maintenance)
    assert due == in_maintenance.phase_started_at + timedelta(days=182)
    client = logged_in_client(prescriber)
    page = client.get(reverse("courses:course", args=[in_maintenance.pk])).content.decode()
    assert "CANMAT Level 3" in page
    local_due = timezone.localtime(due, in_maintenance.patient.home_location.tzinfo)
    assert f"Due {local_due:%Y-%m-%d}" in page
    assert "overdue" not in page
    TreatmentCourse.objects.filter(pk=in_maintenance.pk).update(
        phase_started_at=timezone.now() - timedelta(days=200)
    )
    page = client.get(reverse("courses:course", args=[in_maintenance.pk])).content.decode()
    assert "overdue" in page


def test_prot33_no_review_date_outside_maintenance(prescriber, patient):
    from infusionclinic.courses.selectors import course_review_due

    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    assert course_review_due(course=course) is None


def test_prot11_protocol_edit_page_offers_the_published_induction_schedules(location, prescriber):
    """PROT-11: 2 or 3 a week for up to 4 weeks [SIN16], 6 over about 2 weeks (Murrough 2013,
    unverified), 3 a week for 2 weeks, beside the clinic default."""
    from infusionclinic.courses.selectors import induction_presets, protocols_current

    presets = {p["key"]: p for p in induction_presets()}
    assert (presets["2-weekly-4w"]["per_week"], presets["2-weekly-4w"]["infusions_max"]) == (2, 8)
    assert (presets["3-weekly-4w"]["per_week"], presets["3-weekly-4w"]["infusions_max"]) == (3, 12)
    assert presets["6-over-2w"]["verified"] is False
    assert presets["3-weekly-2w"]["infusions_max"] == 6
    protocol = protocols_current(clinic=location.clinic)[0]
    page = logged_in_client(prescriber).get(reverse("courses:protocol_edit", args=[protocol.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "PROT-11" in text
    assert "2 infusions a week for up to 4 weeks" in text
    assert "Murrough 2013" in text
