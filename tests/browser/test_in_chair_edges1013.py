"""Issue 21 points 10, 12 and 13 in Debian's Chromium: a prescriber signs a PRN standing order;
the nurse moves the day board by date, records a warning sign through its labels, gives a PRN
medicine under the standing order, and scores discharge from criteria in words (DIS-1/DIS-2)."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from infusionclinic.dosing import services as dosing_services
from infusionclinic.dosing.tests.factories import STANDARD
from infusionclinic.infusions.models import DischargeScore, Symptom
from infusionclinic.infusions.prn_models import MedicationAdministration, StandingOrder
from infusionclinic.infusions.tests.factories import infusing, session_for
from infusionclinic.intake.tests.factories import bookable_patient
from infusionclinic.patients.services import diagnosis_add
from tests.browser.test_prescriber_signs_order import _log_in
from tests.factories import PASSWORD, LocationFactory, PatientFactory, add_weight, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_prn_standing_order_board_dates_labels_and_worded_discharge_scores(
    live_server, chromium, page, page_problems
):
    north = LocationFactory(code="north", name="North", timezone="America/New_York")
    prescriber = make_user("prescriber", north)
    nurse = make_user("nurse", north)
    devices = {
        u.pk: TOTPDevice.objects.create(user=u, name="phone", confirmed=True)
        for u in (prescriber, nurse)
    }
    patient = PatientFactory(home_location=north, given_name="Marisol", family_name="Quintana")
    add_weight(patient, "80.0", timezone.localdate() - timedelta(days=3))
    make_user("patient", patient=patient)
    diagnosis_add(actor=prescriber, patient=patient, code="F43.10", is_primary=True)
    bookable_patient(patient, staff=prescriber)
    draft = dosing_services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    order = dosing_services.dosing_order_sign(actor=prescriber, order=draft, password=PASSWORD)
    session = session_for(nurse, patient, order, north)
    infusing(nurse, session)

    # Point 13: the prescriber signs ondansetron (defaults from the data file, unverified).
    _log_in(page, live_server.url, prescriber, devices[prescriber.pk])
    page.goto(f"{live_server.url}/infusions/patients/{patient.pk}/standing-orders/")
    expect(page.get_by_text("unverified").first).to_be_visible()
    page.get_by_label("Allow Ondansetron").check()
    page.get_by_label("Your password (to sign)").fill(PASSWORD)
    page.get_by_role("button", name="Sign standing order").click()
    expect(page.get_by_role("heading", name=re.compile(r"Standing order #\d+"))).to_be_visible()
    assert StandingOrder.objects.get().lines.get().medicine == "ondansetron"
    page.context.clear_cookies()

    # Point 12: the nurse moves the board by day and by the date picker.
    _log_in(page, live_server.url, nurse, devices[nurse.pk])
    page.goto(f"{live_server.url}/infusions/board/north/")
    today = timezone.now().astimezone(ZoneInfo("America/New_York")).date()
    page.get_by_role("link", name=re.compile("Next day")).click()
    expect(page).to_have_url(re.compile(rf"\?date={today + timedelta(days=1):%Y-%m-%d}$"))
    expect(page.locator("#board")).not_to_contain_text("Quintana")
    page.get_by_role("link", name=re.compile("^Today")).click()
    expect(page.locator("#board")).to_contain_text("Quintana")
    page.get_by_label("Date (America/New_York)").fill(f"{today - timedelta(days=7):%Y-%m-%d}")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"\?date={today - timedelta(days=7):%Y-%m-%d}$"))
    page.goto(f"{live_server.url}/infusions/sessions/{session.pk}/")

    # Point 10: the warning sign's select and note are reached by their labels.
    page.get_by_label("Warning sign").select_option("agitation")
    page.get_by_label("Observation").fill("Pulling at the line")
    page.get_by_role("button", name="Record warning sign").click()
    expect(page.get_by_text("MON-X-1", exact=True)).to_be_visible()
    symptom = Symptom.objects.get()
    assert (symptom.code, symptom.note) == ("agitation", "Pulling at the line")

    # Point 13: a PRN medicine given under the standing order.
    page.get_by_label("Medicine (from the signed standing order)").select_option("ondansetron")
    page.get_by_label("Dose given").fill("4")
    page.get_by_label("Why (indication, e.g. nausea at 20 min)").fill("Nausea at 20 min")
    page.get_by_role("button", name="Record PRN medicine given").click()
    expect(page.locator("#prn")).to_contain_text("Ondansetron 4 mg IV — Nausea at 20 min")
    assert MedicationAdministration.objects.get().given_by == nurse

    # Point 10: discharge scoring in words.
    # Issue 21 point 5: the pump ran less than the ordered time.
    page.get_by_label("Stopped early because").select_option("patient_request")
    page.get_by_role("button", name="Stop infusion").click()
    expect(page.locator("#session-state")).to_have_text("Recovering")
    consciousness = page.get_by_label("Modified Aldrete (DIS-1): Consciousness")
    consciousness.select_option(label="1 — Rousable to voice")
    page.get_by_role("button", name="Record discharge score").click()
    expect(page.get_by_text("modified Aldrete 9/10, PADSS 10/10")).to_be_visible()
    assert DischargeScore.objects.get().aldrete["consciousness"] == 1
    assert page_problems.csp_violations() == []
    assert page_problems.all() == []
