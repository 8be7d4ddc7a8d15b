"""Issue 18 "Done when", at 390 × 844: the patient opens the check-in reminder link from the
mail caught by the test SMTP server, logs in, answers PHQ-9 with item 9 = 1 and sees the crisis
resources (SCALE-4); the nurse sees and acknowledges the alert; the patient sends a message with a
PDF; the nurse answers; the patient reads it. Every page the patient sees fits the phone's width."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from infusionclinic.courses import checkins
from infusionclinic.courses import services as course_services
from infusionclinic.messaging.models import Attachment, Message
from infusionclinic.outcomes.models import SafetyAlert
from tests.factories import PASSWORD, LocationFactory, PatientFactory, add_weight, make_user

from .conftest import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _worker() -> None:
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False)


def _context(chromium, viewport, problems: list[str]):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport=viewport, is_mobile=viewport == PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    return context, page


def _log_in(page, email: str, device: TOTPDevice | None = None) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    if device is not None:
        totp = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
        page.get_by_label(re.compile("code", re.IGNORECASE)).fill(f"{totp.token():06d}")
        page.get_by_role("button", name="Verify").click()


def _phq9_link(inbox, address: str) -> str:  # type: ignore[no-untyped-def]
    """The PHQ-9 reminder's link (the signed token starts with the check-in's id)."""
    for message in inbox.to(address):
        assert "check-in" in message["Subject"]
        for url in re.findall(r"https?://\S+", message.get_payload(decode=True).decode()):
            checkin_id = url.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0]
            if checkins.CheckIn.objects.filter(pk=checkin_id, instrument_code="PHQ-9").exists():
                return url
    raise AssertionError("no PHQ-9 reminder link in the mail")


def _fits_phone(page) -> None:  # type: ignore[no-untyped-def]
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at {PHONE['width']} px"


def test_checkin_link_crisis_alert_and_a_message_with_a_pdf(
    chromium, live_server, smtp_inbox, tmp_path
):
    north = LocationFactory(
        code="north", name="North", timezone="America/New_York", phone="+1 212 555 0100"
    )
    patient = PatientFactory(home_location=north, given_name="Ines", family_name="Varga")
    patient_user = make_user("patient", patient=patient)
    nurse = make_user("nurse", north)
    prescriber = make_user("prescriber", north)
    add_weight(patient, "70.0", timezone.localdate(timezone=north.tzinfo) - timedelta(days=9))
    course_services.course_start(
        actor=prescriber,
        patient=patient,
        indication="depression",
        started_at=timezone.now() - timedelta(days=8),
    )
    problems: list[str] = []

    with smtp_inbox.settings(), override_settings(SCHEDULING_SITE_URL=live_server.url):
        # The worker creates the due check-ins and mails the reminders over SMTP.
        assert checkins.checkins_dispatch()["created"] >= 1
        _worker()
        link = _phq9_link(smtp_inbox, patient.email)

        # 1. The patient, on a phone: the link, the log-in, the PHQ-9 with item 9 = 1.
        phone_ctx, phone = _context(chromium, PHONE, problems)
        phone.goto(link)
        _log_in(phone, patient_user.email)
        expect(
            phone.get_by_role("heading", name=re.compile("Patient Health Questionnaire-9"))
        ).to_be_visible()
        _fits_phone(phone)
        for item in range(1, 9):
            phone.get_by_role("group", name=re.compile(rf"^{item}\. ")).get_by_label(
                "Not at all"
            ).check()
        phone.get_by_role("group", name=re.compile(r"^9\. ")).get_by_label("Several days").check()
        phone.get_by_role("button", name="Submit").click()
        crisis = phone.get_by_role("alert").filter(has_text="help is available now")
        expect(crisis).to_be_visible()
        expect(crisis).to_contain_text("988")
        expect(crisis).to_contain_text("+1 212 555 0100")
        _fits_phone(phone)
        alert = SafetyAlert.objects.get(patient=patient)
        assert alert.is_open

        # 2. The nurse sees the open alert on the patient's scores and acknowledges it (SCALE-4:
        # a clinician documents the risk assessment).
        desk_ctx, desk = _context(chromium, DESK, problems)
        desk.goto(live_server.url + "/accounts/login/")
        _log_in(
            desk, nurse.email, TOTPDevice.objects.create(user=nurse, name="app", confirmed=True)
        )
        desk.goto(f"{live_server.url}/patients/{patient.pk}/outcomes/#alert-{alert.pk}")
        nurse_view = desk.locator(f"#alert-{alert.pk}")
        expect(nurse_view).to_contain_text("OPEN")
        desk.get_by_label("Action taken (risk assessment documented)").fill(
            "Called the patient; safety plan reviewed."
        )
        desk.get_by_role("button", name="Acknowledge").click()
        expect(desk.locator(f"#alert-{alert.pk}")).to_contain_text("Acknowledged")
        alert.refresh_from_db()
        assert alert.acknowledged_by == nurse

        # 3. The patient writes to the care team with a PDF.
        phone.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
        expect(phone.get_by_text("Messages are not for emergencies.")).to_be_visible()
        phone.get_by_role("link", name="Write a new message").click()
        expect(phone.get_by_text("Messages are not for emergencies.")).to_be_visible()
        _fits_phone(phone)
        phone.get_by_label("Clinical question").check()
        phone.get_by_label("Subject").fill("My blood test")
        phone.get_by_label("Message").fill("Here is the result from my GP.")
        pdf_path = tmp_path / "blood-test.pdf"
        pdf_path.write_bytes(PDF)
        phone.get_by_label("Attach a file").set_input_files(str(pdf_path))
        phone.get_by_role("button", name="Send").click()
        expect(phone.get_by_text("Message sent to your care team.")).to_be_visible()
        expect(phone.get_by_role("link", name="blood-test.pdf")).to_be_visible()
        _fits_phone(phone)
        assert Attachment.objects.get().content_type == "application/pdf"

        # 4. The nurse answers from the location's inbox.
        desk.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
        expect(desk.get_by_role("heading", name="Messages — North")).to_be_visible()
        desk.get_by_role("link", name="My blood test").click()
        with desk.expect_download() as download:
            desk.get_by_role("link", name="blood-test.pdf").click()
        assert download.value.suggested_filename == "blood-test.pdf"
        desk.get_by_label("Your reply").fill("Thank you, the result is in your chart.")
        desk.get_by_role("button", name="Send").click()
        expect(desk.get_by_text("Message sent.")).to_be_visible()
        desk_ctx.close()

        # 5. The patient's home says a message is waiting; the patient reads it.
        phone.goto(live_server.url + "/my/")
        phone.get_by_role("link", name="1 unread message from your care team").click()
        phone.get_by_role("link", name="My blood test").click()
        expect(phone.get_by_text("Thank you, the result is in your chart.")).to_be_visible()
        _fits_phone(phone)
        phone.goto(live_server.url + "/my/")
        expect(phone.get_by_text("unread message")).to_have_count(0)
        phone_ctx.close()

        # The notification mails went through the queue and say only that a message waits.
        _worker()
        waiting = [m for m in smtp_inbox.messages if "message" in m["Subject"].lower()]
        assert {m["To"] for m in waiting} >= {patient.email}
        for message in waiting:
            body = message.get_payload(decode=True).decode()
            assert "blood" not in body.lower()
            assert "clinical" not in body.lower()

    assert Message.objects.count() == 2
    assert problems == []
