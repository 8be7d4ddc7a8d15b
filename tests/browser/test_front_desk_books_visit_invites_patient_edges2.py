"""Issue 21 point 2, in Debian's Chromium: the front desk books a consultation from a free cell
of the day calendar (find the patient, the form comes pre-filled) and invites the patient to the
portal from the chart; the patient opens the mailed link, chooses a password, logs in and lands
on their own chart under /my/."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from infusionclinic.scheduling.models import Appointment
from infusionclinic.scheduling.tests.factories import future_day, local, staffed_location
from tests.browser.test_nurse_opens_chart import _totp_code
from tests.factories import PASSWORD, LocationFactory, PatientFactory, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "Violet-lantern-orbit-73"


def test_front_desk_books_a_visit_from_the_calendar_and_invites_the_patient_issue21_point2(
    live_server, page, page_problems
):
    north = LocationFactory(code="north", name="North", timezone="America/New_York")
    staffed_location(north)
    desk = make_user("front_desk", north)
    patient = PatientFactory(
        home_location=north, given_name="Ines", family_name="Okafor", email="ines@example.com"
    )

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email").fill(desk.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    key_text = page.locator(".secret").inner_text()
    device = TOTPDevice.objects.get(user=desk, confirmed=False)
    page.get_by_label("6-digit code from your authenticator app").fill(_totp_code(key_text, device))
    page.get_by_role("button", name="Confirm").click()

    # A free cell of the day calendar: a consultation without a chair at 10:00.
    day = future_day(7)
    page.goto(f"{live_server.url}/schedule/north/{day.isoformat()}/")
    page.get_by_role("link", name="Book a visit without a chair at 10:00").click()
    page.get_by_label("Find the patient (name, MRN or date of birth)").fill("okafor")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Okafor, Ines").click()
    expect(page.get_by_label("Start time (local)")).to_have_value("10:00")
    expect(page.get_by_label("Date")).to_have_value(day.isoformat())
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_text("Consultation booked.")).to_be_visible()
    booked = Appointment.objects.get(patient=patient)
    assert (booked.kind, booked.starts_at) == ("consultation", local(north, day, 10))

    # Invite the patient from the chart.
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.get_by_role("button", name="Invite to the portal").click()
    expect(page.get_by_text("Portal invitation sent to ines@example.com.")).to_be_visible()
    expect(page.get_by_role("button", name="Resend invitation")).to_be_visible()
    (message,) = mail.outbox
    (link,) = re.findall(r"https?://\S+/accounts/invitation/\S+/", message.body)
    path = "/accounts/" + link.split("/accounts/", 1)[1]

    # The patient, in another browser context, chooses a password and logs in.
    patient_context = page.context.browser.new_context()
    patient_page = patient_context.new_page()
    patient_page.goto(live_server.url + path)
    patient_page.locator("#id_new_password1").fill(NEW_PASSWORD)
    patient_page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    patient_page.get_by_role("button", name="Set password").click()
    patient_page.get_by_role("link", name="Log in").click()
    patient_page.get_by_label("Email").fill("ines@example.com")
    patient_page.get_by_label("Password").fill(NEW_PASSWORD)
    patient_page.get_by_role("button", name="Log in").click()
    expect(patient_page).to_have_url(re.compile(r"/my/$"))  # the portal home (issue 18)
    patient_page.get_by_role("navigation", name="Main").get_by_role("link", name="My chart").click()
    expect(patient_page.get_by_role("heading", level=1)).to_contain_text(patient.mrn)
    patient_context.close()

    assert page_problems.csp_violations() == []
    assert page_problems.all() == []
