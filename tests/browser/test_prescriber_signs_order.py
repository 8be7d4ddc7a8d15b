"""Issue 6, "Done when": a prescriber writes and signs a dosing order and a nurse sees it, through
the real log-in, two-factor and order pages in Debian's Chromium."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from infusionclinic.intake.tests.factories import bookable_patient
from infusionclinic.patients.services import diagnosis_add
from tests.factories import PASSWORD, LocationFactory, PatientFactory, add_weight, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page: Page, base_url: str, user, device: TOTPDevice) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Two-factor log-in")).to_be_visible()
    code = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits).token()
    page.get_by_label("6-digit code from your authenticator app").fill(f"{code:06d}")
    page.get_by_role("button", name="Verify").click()


def test_prescriber_writes_and_signs_an_order_and_a_nurse_sees_it(
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
    # Orders are signed only for a patient intake clears (issue 4): PTSD, intake, consent.
    make_user("patient", patient=patient)
    diagnosis_add(actor=prescriber, patient=patient, code="F43.10", is_primary=True)
    bookable_patient(patient, staff=prescriber)

    # The prescriber opens the chart, then the order screen from it.
    _log_in(page, live_server.url, prescriber, devices[prescriber.pk])
    expect(page.get_by_role("heading", name="Prescriber", level=1)).to_be_visible()
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.locator("#treatment-links").get_by_role("link", name="Dosing orders").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dosing orders")
    expect(page.get_by_role("region", name="Titration history")).to_contain_text("80.0 kg")

    # The form starts from the clinic's depression protocol (DOSE-1: 0.5 mg/kg over 40 min).
    expect(page.get_by_label("Dose (mg/kg)")).to_have_value("0.500")
    page.get_by_role("button", name="Write draft order").click()

    # The draft with the calculator's numbers (dosing.md Ex 1), then signing with the password.
    expect(page.locator("#order-status")).to_contain_text("Draft")
    expect(page.locator("#dose-mg")).to_have_text("40.0 mg")
    expect(page.locator("#rate")).to_have_text("60.0 mL/h")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Sign order").click()
    expect(page.get_by_text("Order signed.")).to_be_visible()
    expect(page.locator("#order-status")).to_contain_text("Signed")
    expect(page.get_by_role("button", name="Sign order")).to_have_count(0)

    # A nurse, in a separate browser session, sees the signed order.
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        nurse_page = context.new_page()
        _log_in(nurse_page, live_server.url, nurse, devices[nurse.pk])
        expect(nurse_page.get_by_role("heading", name="Nursing", level=1)).to_be_visible()
        nurse_page.goto(f"{live_server.url}/patients/{patient.pk}/orders/")
        orders = nurse_page.locator("#orders")
        expect(orders).to_contain_text("Signed")
        expect(orders).to_contain_text("60.0 mL/h")
        expect(nurse_page.get_by_role("button", name="Write draft order")).to_have_count(0)
        orders.get_by_role("link").first.click()
        expect(nurse_page.locator("#rate")).to_have_text("60.0 mL/h")
        expect(nurse_page.locator("#order-status")).to_contain_text(prescriber.full_name)
        expect(nurse_page.get_by_role("button", name="Sign order")).to_have_count(0)
    finally:
        context.close()

    assert page_problems.csp_violations() == []
    assert page_problems.all() == []
