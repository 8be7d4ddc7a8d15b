"""Issue 2, "Done when": a Playwright test logs in as a nurse and opens a chart, through the real
log-in page, the real two-factor enrolment and the htmx search, in Debian's Chromium."""

from __future__ import annotations

import base64
import re
from datetime import date

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from tests.factories import PASSWORD, LocationFactory, PatientFactory, add_weight, make_user

# live_server serves from another thread, so the test's rows must be committed.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _key_from_page(key_text: str) -> bytes:
    """The key as an authenticator app reads it: base32, grouped by four for typing."""
    compact = key_text.replace(" ", "").upper()
    return base64.b32decode(compact + "=" * (-len(compact) % 8))


def _totp_code(key_text: str, device: TOTPDevice) -> str:
    """The code an authenticator app shows after the person typed the key from the page."""
    key = _key_from_page(key_text)
    totp = TOTP(key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
    return f"{totp.token():0{device.digits}d}"


def test_nurse_logs_in_with_totp_finds_patient_by_family_name_and_opens_chart(
    live_server, page, page_problems
):
    north = LocationFactory(code="north", name="North", timezone="America/New_York")
    nurse = make_user("nurse", north)
    patient = PatientFactory(home_location=north, given_name="Marisol", family_name="Quintana")
    add_weight(patient, "72.5", date(2025, 3, 4))
    other = PatientFactory(home_location=north, given_name="Oskar", family_name="Abernathy")

    # The site sends a logged-out visitor to the log-in page.
    page.goto(live_server.url + "/")  # the public site, with its log-in link
    page.get_by_role("link", name="Staff and patient log-in").first.click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Email").fill(nurse.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # First log-in of a staff member: enrol an authenticator app with the key the page shows.
    expect(page.get_by_role("heading", name="Set up two-factor log-in")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    key_text = page.locator(".secret").inner_text()
    device = TOTPDevice.objects.get(user=nurse, confirmed=False)
    assert _key_from_page(key_text) == device.bin_key
    page.get_by_label("6-digit code from your authenticator app").fill(_totp_code(key_text, device))
    page.get_by_role("button", name="Confirm").click()

    # The nurse's own home page.
    expect(page.get_by_role("heading", name="Nursing", level=1)).to_be_visible()
    expect(page.get_by_text("Two-factor log-in is set up.")).to_be_visible()
    assert TOTPDevice.objects.get(pk=device.pk).confirmed

    # The patient list searches as the nurse types (htmx), without submitting the form.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", name="Patients", level=1)).to_be_visible()
    rows = page.locator("#patient-rows")
    expect(rows.get_by_role("link", name="Abernathy, Oskar")).to_be_visible()
    expect(page.locator("#patient-count")).to_have_text(
        "First 2 matching patients at your locations"
    )
    assert page.evaluate("() => typeof window.htmx") == "object"
    with page.expect_response(
        lambda r: (
            r.request.method == "POST"
            and "q=Quin" in (r.request.post_data or "")
            and r.request.headers.get("hx-request") == "true"
        )
    ) as search:
        page.get_by_label(re.compile(r"^Search by name")).press_sequentially("Quin")
    assert search.value.ok
    expect(rows.get_by_role("link", name="Abernathy, Oskar")).to_have_count(0)
    expect(rows.get_by_role("cell", name=patient.mrn)).to_be_visible()
    # The count above the rows follows the search (htmx out-of-band swap), not the first page.
    expect(page.locator("#patient-count")).to_have_text(
        "First 1 matching patient at your locations"
    )
    # What was typed stays out of the URL (and so out of history and access logs).
    expect(page).to_have_url(f"{live_server.url}/patients/")

    rows.get_by_role("link", name="Quintana, Marisol").click()

    # The chart: name, MRN and the weight and height section with the recorded weight.
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Marisol Quintana")
    expect(heading).to_contain_text(f"MRN {patient.mrn}")
    expect(page).to_have_url(f"{live_server.url}/patients/{patient.pk}/")
    measurements = page.get_by_role("region", name="Weight and height")
    expect(measurements.get_by_role("heading", name="Weight and height")).to_be_visible()
    expect(measurements).to_contain_text("72.5")
    expect(page.get_by_text(other.mrn)).to_have_count(0)

    assert page_problems.csp_violations() == []
    assert page_problems.all() == []
