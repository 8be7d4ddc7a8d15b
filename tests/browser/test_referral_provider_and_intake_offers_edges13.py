"""Issue 21 points 1 and 3 in Debian's Chromium: the front desk records a referral whose NPI is
on file for another provider, is shown the stored record and keeps both; accepts the referral;
and, once the patient's intake is in, accepts its weight into the chart with one click."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from infusionclinic.intake.models import Referral
from infusionclinic.intake.services import intake_save
from infusionclinic.intake.tests.factories import complete_answers
from infusionclinic.patients.models import Patient, ReferringProvider
from tests.browser.test_prescriber_signs_order import _log_in
from tests.factories import LocationFactory, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_front_desk_keeps_both_providers_then_accepts_the_intake_weight(
    live_server, page, page_problems
):
    north = LocationFactory(code="north", name="North", timezone="America/New_York")
    desk = make_user("front_desk", north)
    device = TOTPDevice.objects.create(user=desk, name="phone", confirmed=True)
    stored = ReferringProvider.objects.create(
        name="Dr. Helen Cho",
        practice="Back Bay Psychiatry",
        email="hcho@example.com",
        npi="1234567893",
    )
    _log_in(page, live_server.url, desk, device)

    page.goto(live_server.url + "/referrals/new/")
    page.locator("#id_source").select_option("provider")
    page.get_by_label("Given name").fill("Rosa")
    page.get_by_label("Family name").fill("Marquez")
    page.get_by_label("Date of birth").fill("1975-03-02")
    page.get_by_label("Sex at birth").select_option("female")
    page.get_by_label("Diagnoses (ICD-10-CM)").fill("F33.2")
    page.get_by_label("Referring provider name").fill("Dr. Adaeze Okafor")
    page.get_by_label("Referring provider practice").fill("Charles River Psychiatry")
    page.get_by_label("Referring provider email").fill("aokafor@example.com")
    page.get_by_label("Referring provider NPI").fill("1234567893")
    page.get_by_role("button", name="Record referral").click()

    # Point 1: shown, never silent.
    expect(
        page.get_by_role("heading", name="NPI 1234567893 is on file for another provider")
    ).to_be_visible()
    expect(page.get_by_role("cell", name="Dr. Helen Cho")).to_be_visible()
    expect(page.get_by_role("cell", name="hcho@example.com")).to_be_visible()
    expect(page.get_by_label(re.compile(r"Use the stored record"))).to_be_visible()
    expect(page.get_by_label(re.compile(r"Update the stored record"))).to_be_visible()
    page.get_by_label(re.compile(r"Keep both")).check()
    page.get_by_role("button", name="Record referral").click()
    expect(page.get_by_text("Referral recorded.")).to_be_visible()
    expect(page.get_by_text("Dr. Adaeze Okafor, Charles River Psychiatry")).to_be_visible()
    provider = Referral.objects.get().referring_provider
    assert provider != stored
    assert provider.email == "aokafor@example.com"

    page.get_by_role("button", name="Accept: register the patient and open an intake").click()
    patient = Patient.objects.get(family_name="Marquez")
    assert patient.referring_provider == provider

    # Point 3: the intake, filled in and submitted (by a nurse for the patient, through the
    # same service as the portal).
    intake_save(
        actor=make_user("nurse", north),
        patient=patient,
        values=complete_answers(weight_kg=Decimal("80.0")),
        submit=True,
    )
    page.reload()
    offers = page.get_by_role("region", name="From the intake into the chart")
    expect(offers.get_by_text("80.0 kg, reported on")).to_be_visible()
    # Diagnoses are a prescriber's: front desk is not shown the referral's code.
    expect(offers.get_by_text("F33.2")).to_have_count(0)
    offers.get_by_role("button", name=re.compile(r"^Accept into the chart: Weight")).click()
    expect(page.get_by_text("Weight accepted into the chart.")).to_be_visible()
    expect(page.get_by_text("Latest weight: 80.0 kg")).to_be_visible()
    # The one answer >= 400 is the conflict itself (409, the form shown again with the choice).
    assert [p for p in page_problems.all() if "409" not in p] == []
