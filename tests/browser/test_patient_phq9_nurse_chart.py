"""Issue 5, "Done when": a patient fills in a PHQ-9 in the portal (saving part-way and resuming)
and a nurse sees the updated chart, in Debian's Chromium through the real log-in pages."""

from __future__ import annotations

import re

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from infusionclinic.outcomes.models import Assessment, InstrumentAssignment, InstrumentDefinition
from tests.factories import PASSWORD, LocationFactory, PatientFactory, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, base_url: str, email: str) -> None:
    page.goto(base_url + "/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _answer(page, item: int, label: str) -> None:
    page.get_by_role("group", name=re.compile(rf"^{item}\. ")).get_by_label(label).check()


def test_patient_fills_phq9_in_portal_and_nurse_sees_updated_chart(
    live_server, page, page_problems
):
    assert InstrumentDefinition.objects.filter(code="PHQ-9").exists()
    north = LocationFactory(code="north", name="North", timezone="America/New_York")
    patient = PatientFactory(home_location=north, given_name="Ines", family_name="Varga")
    patient_user = make_user("patient", patient=patient)
    nurse = make_user("nurse", north)
    InstrumentAssignment.objects.create(patient=patient, instrument_code="PHQ-9", assigned_by=nurse)

    # The patient answers three items, saves, leaves, and comes back to finish.
    _log_in(page, live_server.url, patient_user.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Questionnaires").click()
    page.get_by_role("link", name=re.compile("Patient Health Questionnaire-9")).click()
    for item in (1, 2, 3):
        _answer(page, item, "More than half the days")
    page.get_by_role("button", name="Save and finish later").click()
    expect(page.get_by_text("Answers saved. You can finish later.")).to_be_visible()
    page.get_by_role("link", name="Back to my questionnaires").click()
    expect(page.get_by_text("in progress, continue where you left off")).to_be_visible()
    page.get_by_role("link", name=re.compile("Patient Health Questionnaire-9")).click()
    group_2 = page.get_by_role("group", name=re.compile(r"^2\. "))
    expect(group_2.get_by_label("More than half the days")).to_be_checked()
    for item in (4, 5, 6):
        _answer(page, item, "Several days")
    for item in (7, 8, 9):
        _answer(page, item, "Not at all")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    expect(page.get_by_text("988")).to_have_count(0)  # item 9 was 0: no crisis banner
    assessment = Assessment.objects.get()
    assert (assessment.status, assessment.total, assessment.severity) == ("submitted", 9, "mild")
    page.get_by_role("button", name="Log out").click()

    # The nurse logs in (two-factor code from an enrolled app) and opens the patient's scores.
    device = TOTPDevice.objects.create(user=nurse, name="app", confirmed=True)
    _log_in(page, live_server.url, nurse.email)
    totp = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.get_by_label(re.compile("code", re.IGNORECASE)).fill(f"{totp.token():06d}")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Nursing", level=1)).to_be_visible()
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.get_by_role("link", name="Questionnaires and scores").click()

    section = page.get_by_role("region", name="Patient Health Questionnaire-9 (depression)")
    chart = section.get_by_role("img", name="PHQ-9 total over time")
    expect(chart).to_be_visible()
    expect(chart.locator("g.point")).to_have_count(1)
    day = assessment.completed_at.astimezone(north.tzinfo).strftime("%Y-%m-%d")
    expect(chart.locator("g.point title")).to_have_text(f"9 on {day}")
    expect(chart.locator("rect.band")).to_have_count(5)
    expect(section.get_by_role("cell", name="mild")).to_be_visible()

    assert page_problems.csp_violations() == []
    assert page_problems.all() == []
