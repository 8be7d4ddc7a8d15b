"""Pages and API of the outcomes app (issue 5): portal fill-in with resume, crisis resources on
submit, staff entry, amendment and acknowledgment pages, the SVG chart, the API's 422s naming
the item, and that every route is covered by the generated access matrix."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.outcomes import services
from infusionclinic.outcomes.chart import progress_chart_svg
from infusionclinic.outcomes.models import Assessment, AssessmentStatus, SafetyAlert
from infusionclinic.outcomes.selectors import score_history
from tests.factories import PatientFactory, api_client, logged_in_client, make_user
from tests.security.test_access_matrix import API_OPERATIONS, PAGE_ROUTES

from .factories import shipped_specs, submit

pytestmark = pytest.mark.django_db
T0 = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


@pytest.fixture
def patient_user(patient):
    return make_user("patient", patient=patient)


@pytest.fixture
def nurse(location):
    return make_user("nurse", location)


@pytest.fixture
def prescriber(location):
    return make_user("prescriber", location)


def _answers(values):
    return {f"item_{n}": str(v) for n, v in enumerate(values, start=1) if v is not None}


def test_every_outcomes_route_is_in_the_generated_access_matrix():
    assert {r.name for r in PAGE_ROUTES} >= {
        "outcomes:patient",
        "outcomes:entry",
        "outcomes:amend",
        "outcomes:acknowledge",
    }
    assert {
        ("GET", "/api/v1/patients/{patient_id}/assessments"),
        ("POST", "/api/v1/patients/{patient_id}/assessments"),
    } <= set(API_OPERATIONS)


# --- Portal --------------------------------------------------------------------------------------


def test_portal_lists_only_assigned_portal_instruments(patient, patient_user, nurse):
    services.instrument_assign(actor=nurse, patient=patient, instrument_code="PHQ-9")
    services.instrument_assign(actor=nurse, patient=patient, instrument_code="PCL-5")
    client = logged_in_client(patient_user)
    page = client.get("/my/questionnaires/")
    assert page.status_code == 200
    assert b"/my/questionnaires/PHQ-9/" in page.content
    # PCL-5 wording is not embedded yet, so the portal does not offer it (data: "portal": false).
    assert b"/my/questionnaires/PCL-5/" not in page.content
    assert client.get("/my/questionnaires/PCL-5/").status_code == 404
    assert client.get("/my/questionnaires/GAD-7/").status_code == 404  # not assigned


def test_portal_partial_answers_are_saved_and_resumed(patient, patient_user, nurse):
    services.instrument_assign(actor=nurse, patient=patient, instrument_code="PHQ-9")
    client = logged_in_client(patient_user)
    saved = client.post("/my/questionnaires/PHQ-9/", {**_answers([1, 2, 0]), "save": "1"})
    assert saved.status_code == 302
    draft = Assessment.objects.get()
    assert draft.status == AssessmentStatus.DRAFT
    assert draft.answers == [1, 2, 0, None, None, None, None, None, None]
    listing = client.get("/my/questionnaires/")
    assert b"in progress" in listing.content
    page = client.get("/my/questionnaires/PHQ-9/")
    assert re.search(rb'<input type="radio" name="item_2" value="2"[^>]*checked', page.content)
    assert not re.search(rb'name="item_4" value="\d"[^>]*checked', page.content)
    assert page.context["form"].initial["item_2"] == 2


def test_portal_submit_with_a_missing_item_names_it_and_keeps_nothing_locked(
    patient, patient_user, nurse
):
    services.instrument_assign(actor=nurse, patient=patient, instrument_code="PHQ-9")
    client = logged_in_client(patient_user)
    response = client.post("/my/questionnaires/PHQ-9/", {**_answers([1] * 8), "submit": "1"})
    assert response.status_code == 400
    assert response.context["form"].errors["item_9"] == [
        "Item 9 is not answered (every item is required)."
    ]
    assert not Assessment.objects.filter(status=AssessmentStatus.SUBMITTED).exists()


def test_portal_item9_submit_shows_988_at_once_and_emails_the_prescriber(
    patient, patient_user, nurse, prescriber
):
    services.instrument_assign(actor=nurse, patient=patient, instrument_code="PHQ-9")
    client = logged_in_client(patient_user)
    response = client.post(
        "/my/questionnaires/PHQ-9/", {**_answers([0] * 8 + [1]), "submit": "1"}, follow=True
    )
    assert response.status_code == 200
    assert b"988 Suicide &amp; Crisis Lifeline" in response.content
    assert SafetyAlert.objects.get().is_open
    assert [m.to for m in mail.outbox] == [[prescriber.email]]


def test_portal_submit_without_alert_shows_no_crisis_banner(patient, patient_user, nurse):
    services.instrument_assign(actor=nurse, patient=patient, instrument_code="PHQ-9")
    response = logged_in_client(patient_user).post(
        "/my/questionnaires/PHQ-9/", {**_answers([1] * 8 + [0]), "submit": "1"}, follow=True
    )
    assert b"Thank you" in response.content
    assert b"988" not in response.content


def test_a_patient_cannot_open_another_patients_done_page(location, patient, patient_user, nurse):
    other = PatientFactory(home_location=location)
    a = submit(other, "PHQ-9", [0] * 9, T0, nurse)
    assert logged_in_client(patient_user).get(f"/my/questionnaires/done/{a.pk}/").status_code == 404


# --- Staff pages ------------------------------------------------------------------------------


def test_nurse_sees_scores_chart_and_table_with_bands(patient, nurse):
    submit(patient, "PHQ-9", [2] * 9, T0, nurse)
    submit(patient, "PHQ-9", [1] * 9, T0 + timedelta(days=7), nurse)
    page = logged_in_client(nurse).get(f"/patients/{patient.pk}/outcomes/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html
    assert "moderately severe (15-19)" in html  # band shaded and named on the chart
    assert "<title>9 on 2025-03-10</title>" in html
    assert "50.0" in html  # percent change from baseline 18 -> 9
    assert AuditEvent.objects.filter(action=AuditAction.VIEW, patient=patient).exists()


@pytest.mark.parametrize(("role", "status"), [("front_desk", 403), ("patient", 403)])
def test_roles_without_outcomes_view_get_403(patient, role, status, location):
    user = make_user(role, location) if role != "patient" else make_user("patient", patient=patient)
    assert logged_in_client(user).get(f"/patients/{patient.pk}/outcomes/").status_code == status


def test_nurse_assigns_and_enters_on_behalf_resuming_a_draft(patient, nurse):
    client = logged_in_client(nurse)
    assert (
        client.post(f"/patients/{patient.pk}/outcomes/", {"instrument": "GAD-7"}).status_code == 302
    )
    assert patient.assignments.get().instrument_code == "GAD-7"
    url = f"/patients/{patient.pk}/outcomes/entry/?instrument=GAD-7"
    assert (
        client.post(url, {"instrument": "GAD-7", **_answers([3, 3]), "save": "1"}).status_code
        == 302
    )
    assert client.get(url).context["form"].initial["item_1"] == 3
    done = client.post(
        url, {"instrument": "GAD-7", **_answers([3, 3, 1, 1, 1, 1, 1]), "submit": "1"}
    )
    assert done.status_code == 302
    a = Assessment.objects.get()
    assert (a.status, a.total, a.severity, a.administration) == (
        "submitted",
        11,
        "moderate",
        "clinician",
    )


def test_amend_page_changes_a_locked_response_with_a_reason(patient, nurse):
    a = submit(patient, "GAD-7", [1] * 7, T0, nurse)
    client = logged_in_client(nurse)
    url = f"/patients/{patient.pk}/outcomes/amend/?assessment={a.pk}"
    assert client.get(url).status_code == 200
    refused = client.post(url, {"assessment": a.pk, **_answers([2] * 7), "reason": ""})
    assert refused.status_code == 400
    ok = client.post(url, {"assessment": a.pk, **_answers([2] * 7), "reason": "Misread item"})
    assert ok.status_code == 302
    a.refresh_from_db()
    assert a.total == 14
    assert a.amendments.get().reason == "Misread item"


def test_amend_and_acknowledge_refuse_another_patients_record_with_404(
    location, patient, prescriber
):
    other = PatientFactory(home_location=location)
    a = submit(other, "PHQ-9", [0] * 8 + [2], T0, prescriber)
    alert = SafetyAlert.objects.get()
    client = logged_in_client(prescriber)
    amend = client.get(f"/patients/{patient.pk}/outcomes/amend/?assessment={a.pk}")
    assert amend.status_code == 404
    ack = client.post(
        f"/patients/{patient.pk}/outcomes/acknowledge/", {"alert": alert.pk, "action_taken": "x"}
    )
    assert ack.status_code == 404
    assert SafetyAlert.objects.get().is_open


@pytest.mark.parametrize("clinician", ["prescriber", "nurse"])
def test_a_clinician_acknowledges_from_the_alert_list(patient, clinician, request, nurse):
    """SCALE-4: a clinician documents the risk assessment; issue 18 gives the alert to the
    prescriber and the location's nurses, and the nurse may acknowledge it. Front desk may not."""
    submit(patient, "PHQ-9", [0] * 8 + [3], T0, nurse)
    alert = SafetyAlert.objects.get()
    client = logged_in_client(request.getfixturevalue(clinician))
    listing = client.get("/outcomes/alerts/")
    assert patient.mrn.encode() in listing.content
    desk = logged_in_client(make_user("front_desk", patient.home_location))
    assert desk.get("/outcomes/alerts/").status_code == 403
    url = f"/patients/{patient.pk}/outcomes/acknowledge/"
    assert client.post(url, {"alert": alert.pk, "action_taken": ""}).status_code == 400
    assert desk.post(url, {"alert": alert.pk, "action_taken": "x"}).status_code in (403, 404)
    assert client.post(url, {"alert": alert.pk, "action_taken": "Risk assessed"}).status_code == 302
    alert.refresh_from_db()
    assert alert.action_taken == "Risk assessed"
    assert patient.mrn.encode() not in client.get("/outcomes/alerts/").content


# --- Chart ---------------------------------------------------------------------------------------


def test_chart_svg_shades_every_band_and_marks_given_infusion_dates():
    spec = shipped_specs()["PHQ-9"]
    svg = progress_chart_svg(
        spec=spec,
        points=[(T0, 18), (T0 + timedelta(days=7), 9)],
        tz=UTC,
        infusion_dates=[(T0 + timedelta(days=1)).date()],
    )
    assert svg.count('class="band"') == 5
    assert svg.count('class="infusion"') == 1
    assert "<script" not in svg
    assert "style=" not in svg
    empty = progress_chart_svg(spec=shipped_specs()["PCL-5"], points=[], tz=UTC)
    assert "No submitted responses yet" in empty
    assert 'class="band"' not in empty


# --- API -----------------------------------------------------------------------------------------


def _post(user, patient, body):
    return api_client(user).post(
        f"/api/v1/patients/{patient.pk}/assessments",
        json.dumps(body),
        content_type="application/json",
    )


def test_api_post_scores_and_returns_the_issue_5_shape(patient, nurse, prescriber):
    first = _post(
        nurse,
        patient,
        {"instrument": "PHQ-9", "answers": [2] * 9, "completed_at": "2025-03-03T09:00:00-05:00"},
    )
    assert first.status_code == 201
    body = first.json()
    assert body["total"] == 18
    assert body["severity"] == "moderately severe"
    assert body["alerts"] == [
        {"rule_id": "SCALE-4", "level": "critical", "message": SafetyAlert.objects.get().message}
    ]
    assert (body["change_from_baseline"], body["percent_change"]) == (0, 0.0)
    assert (body["response"], body["remission"]) == (None, False)
    assert body["completed_at"].startswith("2025-03-03T14:00:00")
    second = _post(
        nurse,
        patient,
        {
            "instrument": "PHQ-9",
            "answers": [1] * 8 + [0],
            "completed_at": "2025-03-10T09:00:00-05:00",
        },
    ).json()
    assert (second["change_from_baseline"], second["percent_change"]) == (10, 55.6)
    assert (second["response"], second["remission"], second["alerts"]) == (True, False, [])
    listed = api_client(prescriber).get(f"/api/v1/patients/{patient.pk}/assessments")
    assert [a["id"] for a in listed.json()] == [body["id"], second["id"]]
    assert [p.total for p in score_history(patient=patient, instrument_code="PHQ-9")] == [18, 8]


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"instrument": "PHQ-9", "answers": [0] * 8}, "answers", "9 items; 8 answers"),
        ({"instrument": "PHQ-9", "answers": [0] * 8 + [4]}, "answers.9", "Item 9: 4"),
        ({"instrument": "PHQ-9", "answers": [0, "x"] + [0] * 7}, "answers.2", "Item 2: 'x'"),
        ({"instrument": "PHQ-9", "answers": [0] * 8 + [None]}, "answers.9", "Item 9 is not"),
        ({"instrument": "HAM-D", "answers": [0]}, "instrument", "Unknown instrument 'HAM-D'"),
    ],
)
def test_api_422_names_the_item(patient, nurse, body, field, fragment):
    response = _post(nurse, patient, body)
    assert response.status_code == 422
    assert fragment in response.json()["errors"][field][0]
    assert not Assessment.objects.exists()


def test_api_get_is_refused_to_roles_without_outcomes_view(patient, location):
    response = api_client(make_user("front_desk", location)).get(
        f"/api/v1/patients/{patient.pk}/assessments"
    )
    assert response.status_code == 403


def test_staff_entry_with_item9_warns_the_nurse_and_lists_the_open_alert(patient, nurse):
    client = logged_in_client(nurse)
    url = f"/patients/{patient.pk}/outcomes/entry/?instrument=PHQ-9"
    page = client.post(
        url, {"instrument": "PHQ-9", **_answers([0] * 8 + [2]), "submit": "1"}, follow=True
    )
    assert b"Safety alert raised" in page.content
    assert b"OPEN" in page.content
    assert b"Action taken (risk assessment documented)" in page.content  # SCALE-4: nurses too
    assert SafetyAlert.objects.get().assessment.administration == "clinician"
