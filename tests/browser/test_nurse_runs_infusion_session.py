"""Issue 7, "Done when": a nurse takes a patient from check-in to discharge on the day board,
acknowledging an alert on the way, in Debian's Chromium."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from infusionclinic.dosing import services as dosing_services
from infusionclinic.dosing.tests.factories import STANDARD
from infusionclinic.infusions.models import InfusionSession, VitalAlert
from infusionclinic.intake.tests.factories import bookable_patient
from infusionclinic.outcomes.services import assessment_submit
from infusionclinic.patients.services import diagnosis_add
from infusionclinic.scheduling.models import Appointment, Chair
from tests.browser.test_prescriber_signs_order import _log_in
from tests.factories import (
    PASSWORD,
    LocationFactory,
    PatientFactory,
    add_weight,
    dea_registration,
    make_user,
    session_lot,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _vitals(page, **values):  # type: ignore[no-untyped-def]
    labels = {
        "sbp": "Systolic (mmHg)",
        "dbp": "Diastolic (mmHg)",
        "hr": "Heart rate (/min)",
        "spo2": "SpO2 (%)",
        "rr": "Respiratory rate (/min)",
    }
    normal = {"sbp": "122", "dbp": "76", "hr": "72", "spo2": "98", "rr": "14"}
    for key, value in {**normal, **values}.items():
        page.get_by_label(labels[key]).fill(value)
    page.get_by_role("button", name="Record reading").click()


def test_nurse_takes_patient_from_check_in_to_discharge_with_alert_acknowledged(
    live_server, chromium, page, page_problems, settings
):
    # MON-T5's 60 minutes cannot pass in a browser test; the refusal itself is pinned in
    # test_services / test_views.
    settings.INFUSIONS = {"min_observation_min": 0}
    north = LocationFactory(code="north", name="North", timezone="America/New_York")
    prescriber = make_user("prescriber", north)
    nurse = make_user("nurse", north)
    device = TOTPDevice.objects.create(user=nurse, name="phone", confirmed=True)
    patient = PatientFactory(home_location=north, given_name="Marisol", family_name="Quintana")
    add_weight(patient, "80.0", timezone.localdate() - timedelta(days=3))
    make_user("patient", patient=patient)
    diagnosis_add(actor=prescriber, patient=patient, code="F43.10", is_primary=True)
    bookable_patient(patient, staff=prescriber)
    draft = dosing_services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    dosing_services.dosing_order_sign(actor=prescriber, order=draft, password=PASSWORD)
    assessment_submit(
        actor=nurse, patient=patient, instrument_code="PHQ-9", answers=[0] * 9
    )  # the visit's questionnaire, as the patient portal would submit it
    dea_registration(north)
    session_lot(nurse, north)  # 50 mg/mL vials on hand
    chair = Chair.objects.create(location=north, name="Chair 1")
    start = timezone.now().replace(second=0, microsecond=0)
    Appointment.objects.create(
        patient=patient,
        location=north,
        chair=chair,
        kind="infusion",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )

    _log_in(page, live_server.url, nurse, device)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Infusions").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Infusion board")
    page.get_by_role("button", name="Open session").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Quintana")

    # Check-in (PRE-5 escort), pre-infusion vitals, pre-checks.
    page.get_by_label("Identity confirmed").check()
    page.get_by_label("Escort's name (PRE-5)").fill("Sam Quintana")
    page.get_by_label("Escort's phone (PRE-5)").fill("555 010 0100")
    page.get_by_role("button", name="Check in").click()
    expect(page.locator("#session-state")).to_have_text("Checked in")
    _vitals(page)
    page.get_by_label("Fasting confirmed").check()
    # PROT-14: the visit's PHQ-9 is read from outcomes (submitted before the pre-checks).
    expect(page.locator("#questionnaires")).to_contain_text("PHQ-9 submitted")
    page.get_by_label("Pregnancy test (PRE-2)").select_option("negative")
    page.get_by_label("Today's weight (kg)").fill("80.0")
    page.get_by_role("button", name="Pre-checks done").click()
    expect(page.locator("#session-state")).to_have_text("Pre-checks done")

    # Issue 21 point 6: the dose is drawn from a lot on the session page before the start
    # (the location's DEA registration is on file, CS-4); the order's 40 mg = 0.80 mL.
    expect(page.locator("#cs-start-problems")).to_contain_text("no controlled-substance draw")
    expect(page.get_by_label("Quantity drawn (mL of vial)")).to_have_value("0.80")
    page.get_by_role("button", name="Record draw").click()
    expect(page.locator("#cs-log")).to_contain_text("0.80 mL = 40 mg")

    # Infusion; a fast heart rate raises MON-HR-1, which the nurse acknowledges.
    page.get_by_role("button", name="Start infusion").click()
    expect(page.locator("#session-state")).to_have_text("Infusing")
    _vitals(page, hr="156")
    expect(page.get_by_text("MON-HR-1", exact=True)).to_be_visible()
    page.get_by_label("Action taken").fill("Paused briefly, HR settled")
    page.get_by_role("button", name="Acknowledge MON-HR-1").click()
    expect(page.get_by_text("acknowledged by")).to_be_visible()
    page.get_by_role("button", name="Stop infusion").click()
    expect(page.locator("#session-state")).to_have_text("Recovering")

    # Issue 21 point 6: the pump's dose as administered (if it gave any), then the rest wasted
    # with a witness who signs with their password (CS-32, CS-33, CS-44).
    if page.get_by_role("button", name="Record administration").count():
        page.get_by_role("button", name="Record administration").click()
    page.get_by_label("What was wasted and how").fill("Left in the bag and line, discarded")
    page.get_by_label("Witness e-mail (another nurse or prescriber)").fill(prescriber.email)
    page.get_by_label("Witness password or TOTP code").fill(PASSWORD)
    page.get_by_role("button", name="Record witnessed waste").click()
    expect(page.locator("#cs-log")).not_to_contain_text("mismatch")

    # Recovery: scores (all items default to 2), then discharge to the escort.
    page.get_by_role("button", name="Record discharge score").click()
    expect(page.get_by_text("modified Aldrete 10/10, PADSS 10/10")).to_be_visible()
    page.get_by_label("Leaves with (escort's name)").fill("Sam Quintana")
    page.get_by_role("button", name="Discharge", exact=True).click()
    expect(page.locator("#session-state")).to_have_text("Discharged")

    # The board shows the patient as discharged.
    page.get_by_role("link", name="Day board").click()
    expect(page.locator('td[data-state="discharged"]')).to_contain_text("Quintana")

    session = InfusionSession.objects.get(patient=patient)
    assert session.discharged_to_escort == "Sam Quintana"
    assert VitalAlert.objects.get(session=session).acknowledged_by == nurse
    assert page_problems.csp_violations() == []
    assert page_problems.all() == []
