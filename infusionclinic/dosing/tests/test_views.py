"""Pages: the order screen, signing, revising; the course pages; 404 by order/course id."""

import json

import pytest
from django.urls import reverse

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.courses.models import Phase
from infusionclinic.courses.selectors import protocols_current
from infusionclinic.courses.services import course_start
from infusionclinic.dosing import services
from infusionclinic.dosing.models import DosingOrder, OrderStatus
from tests.factories import PASSWORD, PatientFactory, logged_in_client, make_user

from .factories import STANDARD

pytestmark = pytest.mark.django_db

FORM = {
    "indication": "depression",
    "scope": "single",
    "weight_basis": "actual",
    "sex_for_dosing": "female",
    "dose_mg_per_kg": "0.5",
    "duration_min": "40",
    "concentration_mg_per_ml": "1",
}


def test_order_screen_shows_titration_history_and_named_slots(prescriber, patient):
    services.dosing_order_sign(
        actor=prescriber,
        order=services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD),
        password=PASSWORD,
    )
    page = logged_in_client(prescriber).get(reverse("dosing:patient_orders", args=[patient.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "80.0 kg" in html
    assert "40.0 mg" in html
    for slot in ('id="slot-scores"', 'id="slot-side-effects"', 'id="slot-blood-pressure"'):
        assert slot in html
    assert "No questionnaire submitted yet." in html


def test_order_screen_shows_the_scores_titration_rests_on(prescriber, patient):
    from infusionclinic.outcomes.services import assessment_submit

    assessment_submit(
        actor=prescriber, patient=patient, instrument_code="PHQ-9", answers=[2] * 8 + [0]
    )
    page = logged_in_client(prescriber).get(reverse("dosing:patient_orders", args=[patient.pk]))
    assert "PHQ-9: 16" in page.content.decode()


def test_prescriber_writes_a_draft_then_signs_it_with_password(prescriber, nurse, patient):
    client = logged_in_client(prescriber)
    response = client.post(reverse("dosing:patient_orders", args=[patient.pk]), FORM)
    assert response.status_code == 302
    order = DosingOrder.objects.get()
    assert response["Location"] == reverse("dosing:order", args=[order.pk])
    detail = client.get(response["Location"]).content.decode()
    assert "60.0 mL/h" in detail
    assert "Sign order" in detail
    # A nurse does not see the draft.
    nurse_client = logged_in_client(nurse)
    assert nurse_client.get(reverse("dosing:order", args=[order.pk])).status_code == 404
    wrong = client.post(reverse("dosing:order_sign", args=[order.pk]), {"password": "nope"})
    assert wrong.status_code == 400
    signed = client.post(reverse("dosing:order_sign", args=[order.pk]), {"password": PASSWORD})
    assert signed.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.SIGNED
    seen = nurse_client.get(reverse("dosing:order", args=[order.pk]))
    assert seen.status_code == 200
    assert b"Sign order" not in seen.content
    assert b"60.0 mL/h" in seen.content


def test_warning_needs_a_reason_on_the_sign_form(prescriber, patient):
    order = services.dosing_order_create(
        actor=prescriber, patient=patient, **{**STANDARD, "dose_mg_per_kg": "0.8"}
    )
    client = logged_in_client(prescriber)
    url = reverse("dosing:order_sign", args=[order.pk])
    refused = client.post(url, {"password": PASSWORD})
    assert refused.status_code == 400
    assert b"Give a reason" in refused.content
    assert (
        client.post(url, {"password": PASSWORD, "warning_reason": "Titrating"}).status_code == 302
    )


def test_revise_page_makes_a_new_version(prescriber, patient):
    order = services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    services.dosing_order_sign(actor=prescriber, order=order, password=PASSWORD)
    client = logged_in_client(prescriber)
    response = client.post(
        reverse("dosing:order_revise", args=[order.pk]),
        {**FORM, "dose_mg_per_kg": "0.6", "change_reason": "No response (DOSE-3)"},
    )
    assert response.status_code == 302
    new = DosingOrder.objects.get(supersedes=order)
    assert (new.version, new.dose_mg) == (2, 48)


@pytest.mark.parametrize("role", ["nurse", "front_desk"])
def test_roles_other_than_prescriber_cannot_write_or_sign_on_pages(
    role, location, prescriber, patient
):
    user = make_user(role, location)
    client = logged_in_client(user)
    order = services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    services.dosing_order_sign(actor=prescriber, order=order, password=PASSWORD)
    assert client.post(reverse("dosing:patient_orders", args=[patient.pk]), FORM).status_code == 403
    assert DosingOrder.objects.count() == 1


def test_course_pages_start_and_decide(prescriber, nurse, patient):
    client = logged_in_client(prescriber)
    response = client.post(
        reverse("courses:patient_courses", args=[patient.pk]), {"indication": "depression"}
    )
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert b"Scores unavailable" in page.content
    course = patient.courses.get()
    decided = client.post(
        reverse("courses:course", args=[course.pk]), {"to_phase": "paused", "reason": "Travel"}
    )
    assert decided.status_code == 302
    course.refresh_from_db()
    assert course.phase == Phase.PAUSED
    nurse_client = logged_in_client(nurse)
    assert nurse_client.get(reverse("courses:course", args=[course.pk])).status_code == 200
    refused = nurse_client.post(
        reverse("courses:course", args=[course.pk]), {"to_phase": "discontinued", "reason": "x"}
    )
    assert refused.status_code == 403


def test_protocol_edit_page_writes_a_new_version(prescriber, location):
    proto = {p.indication: p for p in protocols_current(clinic=location.clinic)}["depression"]
    client = logged_in_client(prescriber)
    assert client.get(reverse("courses:protocols")).status_code == 200
    form = client.get(reverse("courses:protocol_edit", args=[proto.pk])).context["form"]
    data = {
        k: "" if v is None else json.dumps(v) if isinstance(v, dict | list) else v
        for k, v in form.initial.items()
    }  # the check-in schedule (issue 18) is JSON in its form field
    data["maintenance_interval_days"] = 21
    assert client.post(reverse("courses:protocol_edit", args=[proto.pk]), data).status_code == 302
    new = {p.indication: p for p in protocols_current(clinic=location.clinic)}["depression"]
    assert (new.version, new.maintenance_interval_days) == (2, 21)


@pytest.mark.parametrize("role", ["nurse", "prescriber", "front_desk", "admin", "patient"])
def test_order_and_course_pages_answer_404_to_other_locations_and_other_patients(
    role, location, other_location, prescriber, patient
):
    order = services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    services.dosing_order_sign(actor=prescriber, order=order, password=PASSWORD)
    course = course_start(actor=prescriber, patient=patient, indication="depression")
    user = (
        make_user("patient", patient=PatientFactory(home_location=location))
        if role == "patient"
        else make_user(role, other_location)
    )
    client = logged_in_client(user)
    before = list(DosingOrder.objects.values())
    requests = [
        ("get", reverse("dosing:order", args=[order.pk]), {}),
        ("get", reverse("dosing:order_revise", args=[order.pk]), {}),
        ("post", reverse("dosing:order_sign", args=[order.pk]), {"password": PASSWORD}),
        ("post", reverse("dosing:order_revise", args=[order.pk]), {**FORM, "change_reason": "x"}),
        ("get", reverse("courses:course", args=[course.pk]), {}),
        (
            "post",
            reverse("courses:course", args=[course.pk]),
            {"to_phase": "paused", "reason": "x"},
        ),
    ]
    for method, url, data in requests:
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, url
    assert list(DosingOrder.objects.values()) == before
    course.refresh_from_db()
    assert course.phase == Phase.INDUCTION
    assert not AuditEvent.objects.filter(patient=patient, actor=user).exists()
    assert AuditEvent.objects.filter(action=AuditAction.DENIED, actor=user).count() == len(requests)


def test_course_page_shows_the_proposal_with_rule_ids_and_numbers(monkeypatch, prescriber, patient):
    from datetime import timedelta

    from django.utils import timezone

    from infusionclinic.courses import selectors
    from infusionclinic.courses.tests.test_proposals import Point

    course = course_start(
        actor=prescriber,
        patient=patient,
        indication="depression",
        started_at=timezone.now() - timedelta(days=15),
    )
    start = course.started_at
    monkeypatch.setattr(
        selectors,
        "score_history",
        lambda *, patient, instrument_code, since=None: [
            Point(1, start - timedelta(days=1), 20),
            Point(2, start + timedelta(days=14), 18),
        ],
    )
    client = logged_in_client(prescriber)
    html = client.get(reverse("courses:course", args=[course.pk])).content.decode()
    assert "Discontinue" in html
    assert "PROT-23, PROT-24" in html
    assert "10.0" in html  # change_pct
    response = client.post(
        reverse("courses:course", args=[course.pk]),
        {"to_phase": "discontinued", "reason": "Non-responder (PROT-23)"},
    )
    assert response.status_code == 302
    decision = course.decisions.last()
    assert (decision.proposal_action, decision.proposal_rule_ids) == (
        "discontinue",
        ["PROT-23", "PROT-24"],
    )
