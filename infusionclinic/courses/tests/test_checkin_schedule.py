"""Issue 18 section 2: the check-in schedule each protocol version carries, and the PROT-14 seam
(a started course assigns PHQ-9 and its primary scale so the portal offers them)."""

import pytest
from django.core.exceptions import ValidationError

from infusionclinic.courses import services
from infusionclinic.courses.models import Protocol
from infusionclinic.courses.selectors import protocols_current
from infusionclinic.outcomes.selectors import assignments_active
from tests.factories import logged_in_client, make_user

pytestmark = pytest.mark.django_db

WEEKLY = 7


def test_seeded_protocols_carry_the_issue_18_checkin_defaults(location):
    """Issue 18 section 2 defaults: PHQ-9 and GAD-7 weekly in induction, PHQ-9 every 2 weeks in
    maintenance, the pain score weekly for pain."""
    current = {p.key: p for p in protocols_current(clinic=location.clinic)}
    dep = current["depression"].checkin_schedule
    assert dep["induction"] == [
        {"instrument": "PHQ-9", "every_days": WEEKLY},
        {"instrument": "GAD-7", "every_days": WEEKLY},
    ]
    assert dep["maintenance"] == [{"instrument": "PHQ-9", "every_days": 14}]
    pain = current["pain"].checkin_schedule
    assert {"instrument": "PAIN-NRS", "every_days": WEEKLY} in pain["induction"]
    assert {"instrument": "PAIN-NRS", "every_days": WEEKLY} in pain["maintenance"]
    assert all(
        {"instrument": "PAIN-NRS", "every_days": WEEKLY} not in p.checkin_schedule["induction"]
        for key, p in current.items()
        if key != "pain"
    )


def test_a_new_schedule_is_a_new_protocol_version_and_the_course_keeps_its_own(
    location, prescriber, patient
):
    """Issue 18 section 2: a clinic changes the schedule as a new protocol version."""
    course = services.course_start(actor=prescriber, patient=patient, indication="depression")
    old = course.protocol
    schedule = {"induction": [{"instrument": "PHQ-9", "every_days": 3}], "maintenance": []}
    new = services.protocol_revise(
        actor=prescriber, protocol=old, changes={"checkin_schedule": schedule}
    )
    assert new.version == old.version + 1
    assert new.checkin_schedule == schedule
    course.refresh_from_db()
    assert course.protocol.checkin_schedule["induction"][0]["every_days"] == WEEKLY
    assert Protocol.objects.get(pk=old.pk).checkin_schedule != schedule


@pytest.mark.parametrize(
    "schedule",
    [
        {"evaluation": [{"instrument": "PHQ-9", "every_days": 7}]},
        {"induction": [{"instrument": "NOPE", "every_days": 7}]},
        {"induction": [{"instrument": "PCL-5", "every_days": 7}]},  # staff entry only
        {"induction": [{"instrument": "PHQ-9", "every_days": 0}]},
        {
            "induction": [
                {"instrument": "PHQ-9", "every_days": 7},
                {"instrument": "PHQ-9", "every_days": 3},
            ]
        },
        ["PHQ-9"],
    ],
)
def test_a_bad_checkin_schedule_is_refused(location, prescriber, schedule):
    proto = protocols_current(clinic=location.clinic)[0]
    with pytest.raises(ValidationError) as err:
        services.protocol_revise(
            actor=prescriber, protocol=proto, changes={"checkin_schedule": schedule}
        )
    assert "checkin_schedule" in err.value.message_dict


@pytest.mark.parametrize(
    ("indication", "expected"),
    [
        ("depression", {"PHQ-9"}),
        ("pain", {"PHQ-9", "PAIN-NRS"}),
        ("anxiety", {"PHQ-9", "GAD-7"}),
        # PCL-5 is staff entry from the paper form ("portal": false): not assigned, or every
        # pre-check would wait for it.
        ("ptsd", {"PHQ-9"}),
    ],
)
def test_course_start_assigns_phq9_and_the_primary_scale_prot14(
    prescriber, patient, indication, expected
):
    """PROT-14 / SCALE-4 (issue 18 section 2, the clinic-day seam): the portal offers PHQ-9 and
    the primary scale as soon as the course starts, without a nurse assigning them."""
    assert assignments_active(patient=patient) == []
    services.course_start(actor=prescriber, patient=patient, indication=indication)
    assert {a.instrument_code for a in assignments_active(patient=patient)} == expected


def test_after_course_start_the_portal_lists_phq9(location, prescriber, patient):
    """PROT-14: the patient's own questionnaire list offers PHQ-9 after the course starts."""
    user = make_user("patient", location, patient=patient)
    client = logged_in_client(user)
    assert "PHQ-9" not in client.get("/my/questionnaires/").content.decode()
    services.course_start(actor=prescriber, patient=patient, indication="pain")
    page = client.get("/my/questionnaires/").content.decode()
    assert "/my/questionnaires/PHQ-9/" in page
    assert "/my/questionnaires/PAIN-NRS/" in page


def test_the_protocol_edit_page_saves_a_new_checkin_schedule(location, prescriber):
    """Issue 18 section 2: a clinic changes the schedule on the protocol page (a new version)."""
    import json

    proto = {p.key: p for p in protocols_current(clinic=location.clinic)}["depression"]
    client = logged_in_client(prescriber)
    page = client.get(f"/protocols/{proto.pk}/edit/")
    form = page.context["form"]
    data = {
        name: ("" if value is None else value)
        for name, value in ((n, form.initial.get(n)) for n in form.fields)
    }
    schedule = {"induction": [{"instrument": "PHQ-9", "every_days": 5}]}
    data["checkin_schedule"] = json.dumps(schedule)
    response = client.post(f"/protocols/{proto.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    newest = Protocol.objects.filter(key="depression").order_by("-version").first()
    assert newest.checkin_schedule == schedule
    assert newest.version == proto.version + 1
