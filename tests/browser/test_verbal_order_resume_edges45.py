"""Issue 21 points 4 and 5 in Debian's Chromium: a 185/115 reading during the infusion pauses it
(MON-BP-3); the nurse reads the rule, finds no Resume button, records the prescriber's telephone
order with read-back, resumes, stops early with a reason; the prescriber co-signs the order from
their home page with the password."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from infusionclinic.dosing import services as dosing_services
from infusionclinic.dosing.tests.factories import STANDARD
from infusionclinic.infusions.models import PumpEvent, VerbalOrder
from infusionclinic.infusions.tests.factories import infusing, session_for
from infusionclinic.intake.tests.factories import bookable_patient
from infusionclinic.patients.services import diagnosis_add
from tests.browser.test_nurse_runs_infusion_session import _vitals
from tests.browser.test_prescriber_signs_order import _log_in
from tests.factories import PASSWORD, LocationFactory, PatientFactory, add_weight, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_nurse_resumes_on_a_telephone_order_and_the_prescriber_cosigns(
    live_server, chromium, page, page_problems
):
    north = LocationFactory(code="north", name="North", timezone="America/New_York")
    prescriber = make_user("prescriber", north)
    nurse = make_user("nurse", north)
    devices = {
        u.pk: TOTPDevice.objects.create(user=u, name="phone", confirmed=True)
        for u in (prescriber, nurse)
    }
    patient = PatientFactory(home_location=north, given_name="Tomas", family_name="Lindqvist")
    add_weight(patient, "80.0", timezone.localdate() - timedelta(days=3))
    make_user("patient", patient=patient)
    diagnosis_add(actor=prescriber, patient=patient, code="F43.10", is_primary=True)
    bookable_patient(patient, staff=prescriber)
    draft = dosing_services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    order = dosing_services.dosing_order_sign(actor=prescriber, order=draft, password=PASSWORD)
    session = infusing(nurse, session_for(nurse, patient, order, north))
    url = f"{live_server.url}/infusions/sessions/{session.pk}/"

    _log_in(page, live_server.url, nurse, devices[nurse.pk])
    page.goto(url)
    _vitals(page, sbp="185", dbp="115")
    page.get_by_label("Action taken").first.fill("Rechecked in 5 min, prescriber called")
    page.get_by_role("button", name="Acknowledge MON-BP-3").click()
    if page.get_by_role("button", name="Acknowledge MON-BP-5").count():
        page.get_by_role("button", name="Acknowledge MON-BP-5").click()
    page.get_by_label("Reason", exact=True).fill("MON-BP-3")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#session-state")).to_have_text("Paused")

    # Point 4: the rule in words, no Resume for the nurse, the order form instead.
    expect(page.locator("#mon-bp-3")).to_contain_text("only on the prescriber's order")
    expect(page.get_by_role("button", name="Resume", exact=True)).to_have_count(0)
    page.get_by_label("Prescriber who gave the order").select_option(label=str(prescriber))
    page.get_by_label("Order given").select_option("telephone")
    page.get_by_label("Order as given").fill("Resume at the ordered rate")
    page.get_by_label("I read the order back to the prescriber").check()
    page.get_by_role("button", name="Record order to resume").click()
    expect(page.locator("#verbal-order-ready")).to_contain_text("telephone order of")
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(page.locator("#session-state")).to_have_text("Infusing")

    # Point 5: an early stop asks for the reason; the page then says so.
    page.get_by_label("Stopped early because").select_option("blood_pressure")
    page.get_by_label("Details").fill("BP rose again")
    page.get_by_role("button", name="Stop infusion").click()
    expect(page.locator("#session-state")).to_have_text("Recovering")
    expect(page.locator("#early-stop")).to_contain_text("Infusion ended early")
    expect(page.locator("#early-stop")).to_contain_text("mg ordered")

    # The prescriber co-signs from the home page's list, re-entering the password.
    other = chromium.new_context(viewport={"width": 1280, "height": 900})
    prescriber_page = other.new_page()
    try:
        _log_in(prescriber_page, live_server.url, prescriber, devices[prescriber.pk])
        prescriber_page.goto(f"{live_server.url}/home/")
        panel = prescriber_page.locator("#verbal-orders-to-cosign")
        expect(panel).to_contain_text("Lindqvist")
        panel.get_by_role("link", name="Lindqvist, Tomas").click()
        prescriber_page.get_by_label("Your password").fill(PASSWORD)
        prescriber_page.get_by_role("button", name="Co-sign order").click()
        expect(prescriber_page.locator("#verbal-orders")).to_contain_text("Co-signed by")
    finally:
        other.close()

    verbal = VerbalOrder.objects.get(session=session)
    assert verbal.cosigned_at is not None
    assert verbal.resume_event.actor == nurse
    assert PumpEvent.objects.get(session=session, action="stop").stop_reason == "blood_pressure"
    assert page_problems.all() == []
