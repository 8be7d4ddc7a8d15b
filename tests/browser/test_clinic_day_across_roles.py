"""Issue 21, "Done when", second bullet: one clinic day across roles, in Debian's Chromium, each
role in its own browser context, logged in through the real log-in page (staff with their
authenticator code, the patient at phone width 390 × 844).

referral (front desk) → portal invitation → intake and consent (patient, phone) → intake into the
chart → screening (nurse, prescriber) → course and signed dosing order (prescriber) → induction
series (front desk) → on the visit day: check-in, pre-checks, draw from a lot, infusion with a
185/115 reading, MON-BP-3 alert and pause, resume, stop, administration and witnessed waste,
discharge scores, discharge, note signed by nurse and prescriber (nurse, prescriber) → progress
report shared with the referring provider (prescriber) → invoice and superbill (front desk).

Steps that wait for other branches of issue 21 are each one clearly named helper below, written
as the current UI allows (see their docstrings): `_invite_to_portal` (point 2, edges2),
`_accept_intake_into_chart` (point 3, edges13), `_draw_from_a_lot` and
`_administration_and_waste` (point 6, edges67),
`_resume_after_bp_pause` (point 4, edges45) and `_front_desk_invoices_and_opens_superbill`
(point 7, edges67), which fails on today's code and is therefore not called yet.

Time, as in test_nurse_runs_infusion_session.py: the day runs in real time, MON-T5's observation
minimum is set to 0 (its refusal is pinned in the infusions tests), and the visit is "now": the
series the front desk booked is moved, as a whole, so that its first infusion starts this minute
(`_the_visit_day_arrives`). The pump cannot run for half an hour in a test either: its start is
moved 30 minutes back (`_the_pump_has_run`), so the dose given, the administration recorded in
the controlled-substance log and the billed running time are those of a 30-minute infusion."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.core import mail
from django.db.models import F
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from infusionclinic.accounts.models import User
from infusionclinic.billing.models import BillableService, BillingProvider, Price
from infusionclinic.controlled.models import LedgerEntry
from infusionclinic.infusions.models import (
    InfusionSession,
    PumpEvent,
    SessionState,
    VitalAlert,
)
from infusionclinic.intake.models import ConsentSignature, Intake, IntakeStatus
from infusionclinic.intake.selectors import consent_documents_current
from infusionclinic.patients.models import Patient
from infusionclinic.reports.models import ReportShare
from infusionclinic.scheduling.models import Appointment, Chair
from infusionclinic.scheduling.tests.factories import future_day, on_shift, open_every_day
from tests.factories import PASSWORD, LocationFactory, dea_registration, make_user

from .conftest import TIMEOUT_MS, PageProblems

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESK = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
VALID_NPI = "1234567893"  # CMS's published example NPI (valid check digit)
REFERRER_EMAIL = "aokafor@example.com"
PATIENT_EMAIL = "marisol.quintana@example.com"

# The intake's yes/no questions, all answered "no" (as in test_intake_consent_screening.py).
NO_QUESTIONS = (
    "ketamine_hypersensitivity",
    "aneurysm_avm_or_brain_bleed",
    "uncontrolled_hypertension",
    "unstable_heart_disease",
    "current_psychosis",
    "current_mania",
    "psychosis_history",
    "bipolar_disorder",
    "pregnant",
    "breastfeeding",
    "alcohol_misuse_or_hepatitis",
    "takes_theophylline",
    "takes_cns_depressants",
    "takes_stimulants_or_maoi",
    "substance_use_active",
    "substance_use_history",
    "raised_eye_or_brain_pressure",
    "urinary_symptoms",
    "suicide_attempts",
)


@pytest.fixture(autouse=True)
def _rows_written_by_migrations(transactional_db):
    """A transactional test that ran before on this worker leaves every table empty, including
    the rows data migrations write. Put back the ones this day needs, as the migrations do: the
    audit chain head, consent documents v1, the clinic-default protocols, the instruments and the
    billable services."""
    for module, function in (
        ("infusionclinic.audit.migrations.0002_chain_head_and_append_only_trigger", "seed_head"),
        ("infusionclinic.intake.migrations.0002_consent_documents_v1", "publish"),
        ("infusionclinic.courses.migrations.0002_seed_protocols", "seed"),
        ("infusionclinic.outcomes.migrations.0002_load_instruments", "load"),
        ("infusionclinic.billing.migrations.0002_seed_services", "seed"),
        ("infusionclinic.billing.migrations.0005_protorules_seed_px4", "seed"),
    ):
        getattr(importlib.import_module(module), function)(django_apps, None)


@dataclass
class Staff:
    user: object
    device: TOTPDevice


def _browser_page(chromium, live_server, problems: PageProblems, viewport, contexts) -> Page:  # type: ignore[no-untyped-def]
    """A new browser context (its own cookies: one person at one device) whose console errors,
    page errors and failed requests all go to `problems`, as conftest's `page` fixture does."""
    phone = viewport == PHONE
    context = chromium.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    context.set_default_timeout(TIMEOUT_MS)
    # Eight browser tests may share this machine's two cores: a page load gets longer than a
    # click (the first one also warms the live server up).
    context.set_default_navigation_timeout(3 * TIMEOUT_MS)
    contexts.append(context)
    page = context.new_page()
    page.on(
        "console",
        lambda msg: (
            problems.console_errors.append(f"console.{msg.type}: {msg.text} ({page.url})")
            if msg.type in {"error", "warning"}
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.page_errors.append(f"page error: {exc}"))
    page.on(
        "requestfailed",
        lambda req: (
            None
            if req.failure == "net::ERR_ABORTED"
            else problems.failed_requests.append(
                f"request failed: {req.method} {req.url} ({req.failure})"
            )
        ),
    )
    page.on(
        "response",
        lambda resp: (
            problems.failed_requests.append(f"HTTP {resp.status}: {resp.url}")
            if resp.status >= 400
            else None
        ),
    )
    return page


def _staff_logs_in(page: Page, base_url: str, staff: Staff, home_heading: str) -> None:
    page.goto(base_url + "/accounts/login/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Email").fill(staff.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Two-factor log-in")).to_be_visible()
    d = staff.device
    code = TOTP(d.bin_key, step=d.step, t0=d.t0, digits=d.digits).token()
    page.get_by_label("6-digit code from your authenticator app").fill(f"{code:0{d.digits}d}")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name=home_heading, level=1)).to_be_visible()


def _main_nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def _state(page: Page, expected: str) -> None:
    expect(page.locator("#session-state")).to_have_text(expected)


def _vitals(page: Page, **values: str) -> None:
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


def _wait_for_autosave(page: Page) -> None:
    page.wait_for_timeout(1000)
    page.wait_for_load_state("networkidle")
    expect(page.locator("#autosave-status")).to_contain_text("Draft saved at")


def _no_sideways_scroll(page: Page) -> None:
    page.wait_for_load_state("load")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at {PHONE['width']} px"


# --- Steps that wait for other branches of issue 21 ------------------------------------------


def _invite_to_portal(*, desk_page: Page, phone: Page, base_url: str, patient: Patient) -> None:
    """Issue 21 point 2: the front desk presses "Invite to the portal" on the chart; the patient
    opens the mailed link on the phone and chooses a password."""
    desk_page.goto(f"{base_url}/patients/{patient.pk}/")
    desk_page.get_by_role("button", name="Invite to the portal").click()
    expect(desk_page.get_by_text(f"Portal invitation sent to {patient.email}.")).to_be_visible()
    (message,) = [m for m in mail.outbox if patient.email in m.to]
    assert patient.legal_name not in message.body  # no health or identifying details
    (link,) = re.findall(r"https?://\S+/accounts/invitation/\S+/", message.body)
    phone.goto(base_url + "/accounts/" + link.split("/accounts/", 1)[1])
    phone.locator("#id_new_password1").fill(PASSWORD)
    phone.get_by_label("New password confirmation").fill(PASSWORD)
    phone.get_by_role("button", name="Set password").click()
    expect(phone.get_by_role("link", name="Log in")).to_be_visible()


def _accept(page: Page, item: str) -> None:
    page.locator(f"form:has(input[name='item'][value='{item}'])").get_by_role(
        "button", name=re.compile("^Accept into the chart")
    ).click()
    page.wait_for_load_state("load")


def _accept_intake_into_chart(
    *, nurse_page: Page, prescriber_page: Page, base_url: str, patient: Patient
) -> None:
    """Issue 21 point 3: on the chart, "From the intake into the chart" offers what the patient
    typed and the referral gave; the nurse accepts the weight and height (one click each), the
    prescriber the referral's ICD-10-CM diagnosis (a nurse may not)."""
    chart = f"{base_url}/patients/{patient.pk}/"
    nurse_page.goto(chart)
    offers = nurse_page.get_by_role("region", name="From the intake into the chart")
    expect(offers).to_contain_text("64")
    expect(offers.get_by_text("A prescriber accepts diagnoses.")).to_be_visible()
    for item in ("weight", "height"):
        _accept(nurse_page, item)
    measurements = nurse_page.get_by_role("region", name="Weight and height")
    expect(measurements).to_contain_text("Latest weight: 64.0 kg")
    expect(measurements).to_contain_text("Latest height: 165.0 cm")

    prescriber_page.goto(chart)
    _accept(prescriber_page, "diagnosis:F43.10")
    expect(prescriber_page.get_by_role("region", name="Diagnoses (ICD-10-CM)")).to_contain_text(
        "F43.10"
    )


def _draw_from_a_lot(*, nurse_page: Page, base_url: str, session_url: str) -> None:
    """Issue 21 point 6: the vials are received into the log (CS-9, CS-30), and the start waits
    for a draw from a lot for this session, made on the session page (CS-31, CS-42)."""
    nurse_page.goto(session_url)
    expect(nurse_page.locator("#cs-start-problems")).to_contain_text("draw")
    nurse_page.goto(base_url + "/controlled/north/receive/")
    expect(nurse_page.get_by_role("heading", level=1)).to_contain_text("Receive vials")
    nurse_page.get_by_label("NDC (package, as printed").fill("42023-113-10")
    nurse_page.get_by_label("Strength (mg/mL)").fill("10")
    nurse_page.get_by_label("Vial volume (mL)").fill("20")
    nurse_page.get_by_label("Lot number").fill("KT26A")
    nurse_page.get_by_label("Expiry").fill((timezone.localdate() + timedelta(days=365)).isoformat())
    nurse_page.get_by_label("Vials received").fill("2")
    nurse_page.locator("#id_supplier").fill("Cardinal Health")
    nurse_page.get_by_label("Invoice number").fill("CH-20261206")
    nurse_page.get_by_label("Stored in (locked cabinet)").fill("Cabinet A, room 2")
    nurse_page.get_by_role("button", name="Record receipt").click()
    expect(nurse_page.get_by_text("Receipt recorded.")).to_be_visible()

    nurse_page.goto(session_url)
    draw = nurse_page.locator("#cs-draw-form")
    expect(draw.get_by_label("Lot")).to_contain_text("KT26A")
    # 32.0 mg at the vial's 10 mg/mL.
    draw.get_by_label("Quantity drawn (mL of vial)").fill("3.2")
    draw.get_by_role("button", name="Record draw").click()
    expect(nurse_page.locator("#cs-log")).to_contain_text("KT26A")
    expect(nurse_page.locator("#cs-log")).to_contain_text("3.20 mL = 32 mg")
    expect(nurse_page.locator("#cs-start-problems")).to_have_count(0)


def _administration_and_waste(*, nurse_page: Page, session_url: str, witness: User) -> None:
    """Issue 21 point 6: after the stop the session page takes the administered amount (the
    pump's dose given by default, CS-32) and then the witnessed waste of the rest (CS-33,
    CS-44); discharge waits for both."""
    nurse_page.goto(session_url)
    nurse_page.get_by_role("button", name="Discharge", exact=True).wait_for(state="attached")
    admin_form = nurse_page.locator("form.cs-administer").first
    expect(admin_form).to_contain_text("From the pump:")
    admin_form.get_by_role("button", name="Record administration").click()
    waste = nurse_page.locator("form.cs-waste").first
    left_ml = waste.get_by_label("Wasted (mL of vial)").input_value()
    assert Decimal(left_ml) > 0, left_ml
    waste.get_by_label("What was wasted and how").fill(
        "Remainder of the syringe into the waste container"
    )
    waste.get_by_label(re.compile("Witness e-mail")).fill(witness.email)
    waste.get_by_label("Witness password or TOTP code").fill(PASSWORD)
    waste.get_by_role("button", name="Record witnessed waste").click()
    cs_row = nurse_page.locator("#cs-log tbody tr").first
    expect(cs_row.locator("td").nth(4)).to_contain_text(f"{left_ml} mL")
    expect(cs_row.locator("td").nth(5)).to_contain_text("0.00 mL")
    # CS-32, CS-42: the log's administered dose is the pump's, and no difference is named.
    doses = nurse_page.locator("#cs-log p").filter(has_text="Pump's dose given")
    pump_mg, logged_mg = (
        Decimal(t.removesuffix(" mg")) for t in doses.locator("strong").all_inner_texts()
    )
    assert pump_mg == logged_mg > 0
    expect(nurse_page.locator(".cs-mismatch")).to_have_count(0)


def _resume_after_bp_pause(
    *, nurse_page: Page, prescriber_page: Page, base_url: str, session_url: str
) -> None:
    """Issue 21 point 4: after the MON-BP-3 pause the page explains the rule and offers the nurse
    no bare Resume; she records the prescriber's telephone order, read back, resumes, and the
    prescriber co-signs the order later from the home page with the password."""
    nurse_page.goto(session_url)
    _state(nurse_page, "Paused")
    expect(nurse_page.get_by_text("MON-BP-3", exact=True).first).to_be_visible()
    expect(nurse_page.get_by_role("button", name="Resume", exact=True)).to_have_count(0)
    nurse_page.get_by_label("Prescriber who gave the order").select_option(
        label="Dr. Priya Prescriber"
    )
    nurse_page.get_by_label("Order given").select_option("telephone")
    nurse_page.get_by_label("Order as given").fill(
        "Resume at the ordered rate; recheck BP in 5 min"
    )
    nurse_page.get_by_label("I read the order back to the prescriber").check()
    nurse_page.get_by_role("button", name="Record order to resume").click()
    expect(nurse_page.locator("#verbal-order-ready")).to_contain_text("telephone order of")
    nurse_page.get_by_role("button", name="Resume", exact=True).click()
    _state(nurse_page, "Infusing")

    prescriber_page.goto(base_url + "/home/")
    panel = prescriber_page.locator("#verbal-orders-to-cosign")
    expect(panel).to_contain_text("Quintana")
    panel.get_by_role("link", name=re.compile("Quintana")).click()
    prescriber_page.get_by_label("Your password").fill(PASSWORD)
    prescriber_page.get_by_role("button", name="Co-sign order").click()
    expect(prescriber_page.locator("#verbal-orders")).to_contain_text("Co-signed by")


def _front_desk_invoices_and_opens_superbill(
    *, desk_page: Page, base_url: str, patient: Patient
) -> None:
    """Issue 21 point 7: discharge completed the appointment, so billing offers it; the infusion
    codes come from the pump record, the drug line is typed; then the superbill."""
    desk_page.goto(f"{base_url}/patients/{patient.pk}/")
    desk_page.get_by_role("link", name="Invoices, packages and payments").click()
    expect(desk_page.get_by_role("heading", level=1)).to_contain_text("Billing: Marisol Quintana")
    new_invoice = desk_page.get_by_role("region", name="Invoice a completed appointment")
    new_invoice.get_by_label("Completed appointment").select_option(index=0)
    new_invoice.get_by_label("Lines").fill("J3490 1")
    new_invoice.get_by_role("button", name="Issue invoice").click()
    expect(desk_page.get_by_text(re.compile(r"Invoice \S+ issued\."))).to_be_visible()
    # CODE-PX1: the pump ran a little over 30 minutes, pauses excluded: 96365 once, from the
    # pump record, beside the drug line typed here.
    pump = desk_page.get_by_role("region", name=re.compile("Infusion time billed"))
    expect(pump.get_by_role("cell", name="96365", exact=True)).to_be_visible()
    expect(pump.get_by_role("cell", name="CODE-PX1", exact=True)).to_be_visible()
    charges = desk_page.locator("dl").filter(has_text="Balance due")
    # 96365 at $450.00 and J3490 at $25.00 from the location's price list.
    expect(charges).to_contain_text("Total$475.00")
    expect(charges).to_contain_text("Balance due$475.00")
    superbill = desk_page.get_by_role("link", name="Download the superbill (PDF)")
    response = desk_page.request.get(base_url + superbill.get_attribute("href"))
    assert response.ok
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")


def _the_pump_has_run(session_url: str, minutes: int) -> None:
    """The test cannot wait for the pump either: the infusion's start is moved `minutes` back,
    as if the nurse had pressed "Start infusion" that long ago. Everything after it (the
    readings, pause, resume, stop) happens in real time; the dose given, the administration's
    default (CS-32) and the billed running time (CODE-PX1) all come from these pump events."""
    session_id = int(session_url.rstrip("/").rsplit("/", 1)[1])
    moved = PumpEvent.objects.filter(session_id=session_id, action="start").update(
        at=F("at") - timedelta(minutes=minutes)
    )
    assert moved == 1


def _the_visit_day_arrives(patient: Patient) -> Appointment:
    """The test cannot wait a week for the first infusion: the booked series moves, as a whole
    (its spacing kept, PROT-12), so that its first infusion starts this minute, as
    test_nurse_runs_infusion_session.py books its visit "now"."""
    booked = list(Appointment.objects.filter(patient=patient).order_by("starts_at"))
    shift = booked[0].starts_at - timezone.now().replace(second=0, microsecond=0)
    for appointment in booked:
        Appointment.objects.filter(pk=appointment.pk).update(
            starts_at=appointment.starts_at - shift, ends_at=appointment.ends_at - shift
        )
    return Appointment.objects.get(pk=booked[0].pk)


# --- The day -----------------------------------------------------------------------------------


def test_one_clinic_day_from_referral_to_progress_report_across_roles(
    chromium, live_server, page_problems, settings
):
    # MON-T5's 60 minutes cannot pass in a browser test; the refusal itself is pinned in the
    # infusions tests (as in test_nurse_runs_infusion_session.py).
    settings.INFUSIONS = {"min_observation_min": 0}
    base = live_server.url
    north = LocationFactory(code="north", name="North", timezone="America/New_York")
    open_every_day(north)
    for n in (1, 2):
        Chair.objects.create(location=north, name=f"Chair {n}")

    def staff(role: str) -> Staff:
        user = make_user(role, north)
        user.full_name = {"front_desk": "Dana Desk", "nurse": "Nora Nurse"}.get(
            role, "Dr. Priya Prescriber"
        )
        user.save(update_fields=["full_name"])
        if role in {"nurse", "prescriber"}:
            on_shift(user, north)
        return Staff(user, TOTPDevice.objects.create(user=user, name="phone", confirmed=True))

    desk, nurse, prescriber = staff("front_desk"), staff("nurse"), staff("prescriber")
    # The clinic's price list and the prescriber's billing NPI, as an admin keeps them.
    for code, amount in (("96365", "450.00"), ("J3490", "25.00")):
        Price.objects.create(
            location=north,
            service=BillableService.objects.get(code=code),
            unit_price=Decimal(amount),
            effective_from=timezone.localdate() - timedelta(days=30),
        )
    BillingProvider.objects.create(
        user=prescriber.user, display_name="Dr. Priya Prescriber", npi=VALID_NPI
    )
    # The location's DEA registration, as the clinic admin records it (CS-4): no infusion
    # starts without it.
    dea_registration(north)

    contexts: list = []
    try:
        desk_page = _browser_page(chromium, live_server, page_problems, DESK, contexts)
        nurse_page = _browser_page(chromium, live_server, page_problems, DESK, contexts)
        prescriber_page = _browser_page(chromium, live_server, page_problems, DESK, contexts)
        phone = _browser_page(chromium, live_server, page_problems, PHONE, contexts)

        # --- Front desk: the referral, accepted into a chart ---
        _staff_logs_in(desk_page, base, desk, "Front desk")
        _main_nav(desk_page, "Referrals")
        desk_page.get_by_role("link", name="Record a referral").click()
        expect(desk_page.get_by_role("heading", level=1)).to_have_text("Record a referral")
        desk_page.locator("#id_source").select_option("provider")
        desk_page.get_by_label("Location").select_option("north")
        desk_page.get_by_label("Given name").fill("Marisol")
        desk_page.get_by_label("Family name").fill("Quintana")
        desk_page.get_by_label("Date of birth").fill("1986-04-12")
        desk_page.get_by_label("Sex at birth").select_option("female")
        desk_page.locator("#id_email").fill(PATIENT_EMAIL)
        desk_page.locator("#id_phone").fill("555-0142")
        desk_page.get_by_label("Reason").fill("Chronic PTSD, two SSRIs without response.")
        desk_page.get_by_label("Diagnoses (ICD-10-CM)").fill("F43.10")
        desk_page.get_by_label("Referring provider name").fill("Dr. Adaeze Okafor")
        desk_page.get_by_label("Referring provider practice").fill("Charles River Psychiatry")
        desk_page.get_by_label("Referring provider email").fill(REFERRER_EMAIL)
        desk_page.get_by_label("Referring provider NPI").fill(VALID_NPI)
        desk_page.get_by_role("button", name="Record referral").click()
        expect(desk_page.get_by_text("Referral recorded.")).to_be_visible()
        expect(desk_page.get_by_role("heading", level=1)).to_contain_text(
            "Referral: Marisol Quintana"
        )
        expect(desk_page.locator("dl.facts")).to_contain_text("Dr. Adaeze Okafor")
        desk_page.get_by_role(
            "button", name="Accept: register the patient and open an intake"
        ).click()
        expect(
            desk_page.get_by_text("Referral accepted; intake opened for Marisol Quintana.")
        ).to_be_visible()
        expect(desk_page.get_by_role("heading", level=1)).to_contain_text("Marisol Quintana")
        referrer = desk_page.get_by_role("region", name="Referring provider")
        expect(referrer).to_contain_text("Dr. Adaeze Okafor")
        expect(referrer).to_contain_text(REFERRER_EMAIL)
        # The front desk sees demographics, not the clinical chart, courses or orders.
        expect(desk_page.get_by_role("heading", name="Diagnoses (ICD-10-CM)")).to_have_count(0)
        expect(desk_page.get_by_role("link", name="Dosing orders")).to_have_count(0)
        patient = Patient.objects.get(family_name="Quintana")

        # --- Portal invitation (point 2: edges2) ---
        _invite_to_portal(desk_page=desk_page, phone=phone, base_url=base, patient=patient)

        # --- The patient, on a phone: intake, then consent ---
        phone.goto(base + "/accounts/login/")
        expect(phone.get_by_role("heading", name="Log in")).to_be_visible()
        phone.get_by_label("Email").fill(PATIENT_EMAIL)
        phone.get_by_label("Password").fill(PASSWORD)
        phone.get_by_role("button", name="Log in").click()
        expect(phone).to_have_url(re.compile(r"/my/$"))
        phone.goto(base + "/my/intake/")
        expect(phone.get_by_role("heading", level=1)).to_contain_text("Intake: Marisol Quintana")
        phone.wait_for_function("() => typeof window.htmx === 'object'")
        _no_sideways_scroll(phone)
        phone.get_by_label("Medical history").fill("Appendectomy 2004.")
        phone.get_by_label("Current medications").fill("Sertraline 100 mg daily")
        phone.get_by_label("Allergies").fill("None known")
        for name in NO_QUESTIONS:
            phone.locator(f"#id_{name}").select_option("no")
        phone.get_by_label("Liver disease").select_option("none")
        phone.get_by_label("Weight (kg)").fill("64")
        phone.get_by_label("Height (cm)").fill("165")
        phone.get_by_label("Emergency contact name").fill("Luis Quintana")
        phone.get_by_label("Emergency contact phone").fill("555-0143")
        phone.get_by_label("Escort name").fill("Luis Quintana")
        phone.get_by_label("Escort phone").fill("555-0143")
        _wait_for_autosave(phone)
        phone.get_by_role("button", name="Submit intake").click()
        expect(phone.get_by_text("Intake submitted. Thank you.")).to_be_visible()
        assert Intake.objects.get(patient=patient).status == IntakeStatus.SUBMITTED

        _main_nav(phone, "Consent")
        documents = consent_documents_current()
        form = phone.get_by_role("form", name="Review and sign")
        for document in documents:
            form.get_by_label(f"I have read {document.title} (version {document.version})").check()
        form.get_by_label("Type your full legal name").fill("Marisol Quintana")
        _no_sideways_scroll(phone)
        form.get_by_role("button", name=f"Sign {len(documents)} documents").click()
        expect(phone).to_have_url(re.compile(r"/my/$"))
        expect(phone.get_by_text(f"Signed {len(documents)} consent documents")).to_be_visible()
        assert ConsentSignature.objects.filter(patient=patient).count() == len(documents)

        # --- Intake into the chart (point 3: edges13) ---
        _staff_logs_in(nurse_page, base, nurse, "Nursing")
        _staff_logs_in(prescriber_page, base, prescriber, "Prescriber")
        _accept_intake_into_chart(
            nurse_page=nurse_page, prescriber_page=prescriber_page, base_url=base, patient=patient
        )

        # --- The nurse countersigns the consent and runs the screening ---
        nurse_page.goto(f"{base}/patients/{patient.pk}/")
        nurse_page.get_by_role("navigation", name="Intake and consent").get_by_role(
            "link", name="Consent"
        ).click()
        expect(nurse_page.get_by_role("heading", level=1)).to_have_text("Consent: Marisol Quintana")
        for document in documents:
            nurse_page.get_by_role("button", name=f"Countersign {document.title}").click()
            nurse_page.wait_for_load_state("load")
        expect(nurse_page.get_by_text("Countersigned by Nora Nurse.")).to_have_count(len(documents))
        nurse_page.goto(f"{base}/patients/{patient.pk}/")
        nurse_page.get_by_role("link", name="Eligibility screening").click()
        nurse_page.get_by_role("button", name="Run screening again").click()
        expect(nurse_page.locator("#result")).to_contain_text("Eligible")
        expect(nurse_page.get_by_text("An infusion may be booked.")).to_be_visible()
        # PHQ-9 before every infusion (PROT-14): the portal offers what is assigned.
        nurse_page.goto(f"{base}/patients/{patient.pk}/")
        nurse_page.get_by_role("link", name="Questionnaires and scores").click()
        assigned = nurse_page.get_by_role("region", name="Assigned questionnaires")
        assigned.get_by_label("Questionnaire").select_option("PHQ-9")
        assigned.get_by_role("button", name="Assign").click()
        assigned = nurse_page.get_by_role("region", name="Assigned questionnaires")
        expect(assigned.get_by_role("listitem").filter(has_text="PHQ-9")).to_contain_text(
            "Enter answers"
        )

        # --- The prescriber: the screening, a course, a signed dosing order ---
        prescriber_page.goto(f"{base}/patients/{patient.pk}/screening/")
        expect(prescriber_page.locator("#result")).to_contain_text("Eligible")
        expect(prescriber_page.locator("#finding-PROT-1")).to_have_count(0)  # F43.10 on chart
        prescriber_page.goto(f"{base}/patients/{patient.pk}/")
        prescriber_page.locator("#treatment-links").get_by_role(
            "link", name="Treatment courses"
        ).click()
        expect(prescriber_page.get_by_text("No treatment course yet.")).to_be_visible()
        prescriber_page.get_by_label("Indication").select_option("ptsd")
        prescriber_page.get_by_role("button", name="Start in induction").click()
        expect(prescriber_page.locator("#phase")).to_contain_text("Induction")
        prescriber_page.get_by_role("link", name="Dosing orders").first.click()
        expect(prescriber_page.get_by_role("heading", level=1)).to_contain_text("Dosing orders")
        prescriber_page.get_by_label("Course").select_option(index=1)
        prescriber_page.get_by_label("Indication").select_option("ptsd")
        expect(prescriber_page.get_by_label("Dose (mg/kg)")).to_have_value("0.500")
        prescriber_page.get_by_role("button", name="Write draft order").click()
        expect(prescriber_page.locator("#order-status")).to_contain_text("Draft")
        # DOSE-1: 0.5 mg/kg × 64 kg (the chart's weight) = 32.0 mg over 40 min.
        expect(prescriber_page.locator("#dose-mg")).to_have_text("32.0 mg")
        prescriber_page.get_by_label("Your password").fill(PASSWORD)
        prescriber_page.get_by_role("button", name="Sign order").click()
        expect(prescriber_page.get_by_text("Order signed.")).to_be_visible()
        expect(prescriber_page.locator("#order-status")).to_contain_text("Signed")

        # --- Front desk: the induction series ---
        desk_page.goto(f"{base}/patients/{patient.pk}/")
        desk_page.get_by_role("link", name="Book an infusion series").click()
        expect(desk_page.locator("#series-course")).to_contain_text("ptsd course")
        desk_page.get_by_label("First infusion on or after").fill(future_day(7).isoformat())
        desk_page.get_by_label("Preferred start time (local)").fill("09:30")
        desk_page.get_by_role("button", name="Propose dates").click()
        proposal = desk_page.locator("#proposal li")
        expect(proposal.first).to_contain_text("09:30")
        count = proposal.count()
        assert count >= 1
        desk_page.get_by_role("button", name=f"Book all {count} infusions").click()
        expect(desk_page.get_by_text(f"{count} infusions booked.")).to_be_visible()
        assert Appointment.objects.filter(patient=patient, status="booked").count() == count
        # The patient sees the series on the phone.
        _main_nav(phone, "My appointments")
        rows = phone.locator("tbody tr").filter(has_text="Infusion at North")
        expect(rows).to_have_count(count)
        expect(rows.first).to_contain_text("09:30")
        expect(rows.first).to_contain_text("Booked")
        _no_sideways_scroll(phone)

        # --- The visit day ---
        appointment = _the_visit_day_arrives(patient)

        # The patient fills in the visit's questionnaires on the phone (PROT-14).
        _main_nav(phone, "Questionnaires")
        expect(phone.get_by_role("heading", level=1)).to_have_text("My questionnaires")
        phone.get_by_role("link", name=re.compile("Patient Health Questionnaire-9")).click()
        for group in phone.get_by_role("group").all():
            group.get_by_label("Not at all").check()
        phone.get_by_role("button", name="Submit").click()
        expect(phone.get_by_role("heading", name="Thank you")).to_be_visible()
        _no_sideways_scroll(phone)

        # The nurse opens the session from the day board and checks the patient in.
        _main_nav(nurse_page, "Infusions")
        expect(nurse_page.get_by_role("heading", level=1)).to_contain_text("Infusion board")
        # PRE-7: the day's facility check before the first infusion.
        nurse_page.locator("#facility-status").get_by_role("link", name="Facility check").click()
        nurse_page.get_by_label(
            "Prescriber experienced in airway management, on site"
        ).select_option(label="Dr. Priya Prescriber")
        nurse_page.get_by_label("ACLS-certified clinician present").select_option(
            label="Nora Nurse (Nurse)"
        )
        nurse_page.get_by_label("Emergency airway equipment checked and on site").check()
        nurse_page.get_by_label("Resuscitation drugs checked and in date").check()
        nurse_page.get_by_role("button", name="Record facility check").click()
        expect(nurse_page.get_by_text("Facility check recorded (PRE-7).")).to_be_visible()
        expect(nurse_page.get_by_text("Booked infusions without a session")).to_be_visible()
        nurse_page.get_by_role("button", name="Open session").click()
        expect(nurse_page.get_by_role("heading", level=1)).to_contain_text("Quintana, Marisol")
        _state(nurse_page, "Scheduled")
        session_url = nurse_page.url
        nurse_page.get_by_label("Identity confirmed").check()
        nurse_page.get_by_label("Escort's name (PRE-5)").fill("Luis Quintana")
        nurse_page.get_by_label("Escort's phone (PRE-5)").fill("555-0143")
        nurse_page.get_by_role("button", name="Check in").click()
        _state(nurse_page, "Checked in")
        _vitals(nurse_page)
        expect(nurse_page.locator("#questionnaires")).to_contain_text("PHQ-9 submitted")
        nurse_page.get_by_label("Fasting confirmed").check()
        nurse_page.get_by_label("Pregnancy test (PRE-2)").select_option("negative")
        nurse_page.get_by_label("Today's weight (kg)").fill("64.0")
        nurse_page.get_by_role("button", name="Pre-checks done").click()
        _state(nurse_page, "Pre-checks done")

        # --- The draw (point 6: edges67) ---
        _draw_from_a_lot(nurse_page=nurse_page, base_url=base, session_url=session_url)

        # --- The infusion; 185/115 raises MON-BP-3 and the nurse pauses the pump ---
        nurse_page.get_by_role("button", name="Start infusion").click()
        _state(nurse_page, "Infusing")
        _the_pump_has_run(session_url, minutes=30)
        nurse_page.reload()
        # 30 minutes of 48 mL/h at 1 mg/mL (RATE-7): 24 mg, plus the seconds since the start.
        expect(nurse_page.locator("#dose-given")).to_have_text(re.compile(r"^2[45]\.\d mg$"))
        _vitals(nurse_page, sbp="185", dbp="115")
        expect(nurse_page.get_by_text("MON-BP-3", exact=True)).to_be_visible()
        expect(
            nurse_page.get_by_text(re.compile("BP 185/115 mmHg during the session"))
        ).to_be_visible()
        expect(
            nurse_page.get_by_text(re.compile("resume only on the prescriber's order"))
        ).to_be_visible()
        nurse_page.get_by_label("Reason").fill("MON-BP-3: BP 185/115")
        nurse_page.get_by_role("button", name="Pause").click()
        _state(nurse_page, "Paused")
        # Each alert acknowledged with what was done (MON-BP-3, and MON-BP-5's rise).
        while nurse_page.get_by_role("button", name=re.compile(r"^Acknowledge ")).count():
            nurse_page.get_by_label("Action taken").first.fill(
                "Pump paused, prescriber notified, recheck in 5 min"
            )
            nurse_page.get_by_role("button", name=re.compile(r"^Acknowledge ")).first.click()
            nurse_page.wait_for_load_state("load")
        expect(nurse_page.get_by_text("acknowledged by Nora Nurse").first).to_be_visible()
        _vitals(nurse_page, sbp="138", dbp="84")

        # --- Resume on the prescriber's order (point 4: edges45) ---
        _resume_after_bp_pause(
            nurse_page=nurse_page,
            prescriber_page=prescriber_page,
            base_url=base,
            session_url=session_url,
        )

        # --- The nurse stops the infusion; administration and witnessed waste ---
        nurse_page.goto(session_url)
        _state(nurse_page, "Infusing")
        # Issue 21 point 5: the pump ran less than the ordered time, so the reason is given.
        nurse_page.get_by_label("Stopped early because").select_option("blood_pressure")
        nurse_page.get_by_role("button", name="Stop infusion").click()
        _state(nurse_page, "Recovering")
        _administration_and_waste(
            nurse_page=nurse_page, session_url=session_url, witness=prescriber.user
        )
        # --- Discharge scores, discharge, the note signed by nurse and prescriber ---
        nurse_page.get_by_role("button", name="Record discharge score").click()
        expect(nurse_page.get_by_text("modified Aldrete 10/10, PADSS 10/10")).to_be_visible()
        nurse_page.get_by_label("Leaves with (escort's name)").fill("Luis Quintana")
        nurse_page.get_by_role("button", name="Discharge", exact=True).click()
        _state(nurse_page, "Discharged")
        expect(nurse_page.get_by_text("to Luis Quintana")).to_be_visible()
        nurse_page.get_by_role("button", name="Generate note").click()
        expect(nurse_page.locator("pre")).to_contain_text("Quintana")
        nurse_page.get_by_role("button", name="Sign note").click()
        expect(nurse_page.get_by_text("Nurse: signed by Nora Nurse")).to_be_visible()

        prescriber_page.goto(session_url)
        _state(prescriber_page, "Discharged")
        prescriber_page.get_by_role("button", name="Sign note").click()
        expect(
            prescriber_page.get_by_text("Prescriber: signed by Dr. Priya Prescriber")
        ).to_be_visible()
        expect(prescriber_page.get_by_text("Locked.")).to_be_visible()

        # --- The prescriber: the progress report, shared with the referring provider ---
        prescriber_page.goto(f"{base}/patients/{patient.pk}/")
        prescriber_page.get_by_role(
            "link", name="Progress report for the referring provider"
        ).click()
        expect(prescriber_page.get_by_role("heading", level=1)).to_contain_text(
            "Progress report: Marisol Quintana"
        )
        expect(prescriber_page.get_by_role("region", name="Treatment courses")).to_contain_text(
            "PTSD"
        )
        expect(prescriber_page.get_by_label("Send a read-only link to")).to_have_value(
            REFERRER_EMAIL
        )
        prescriber_page.get_by_role("button", name="Send link").click()
        expect(prescriber_page.get_by_text(f"Link sent to {REFERRER_EMAIL}.")).to_be_visible()
        expect(
            prescriber_page.get_by_role("region", name="Share with the referring provider")
        ).to_contain_text("valid until")

        session = InfusionSession.objects.get(patient=patient)
        assert session.state == SessionState.DISCHARGED
        assert session.appointment_id == appointment.pk
        assert VitalAlert.objects.filter(session=session, rule_id="MON-BP-3").exists()
        draw = LedgerEntry.objects.get(session=session, kind="draw")
        assert set(LedgerEntry.objects.filter(dose=draw).values_list("kind", flat=True)) == {
            "administration",
            "waste",
        }
        assert ReportShare.objects.get(patient=patient).recipient_email == REFERRER_EMAIL

        # --- Front desk: invoice and superbill (point 7: discharge completed the visit) ---
        _front_desk_invoices_and_opens_superbill(
            desk_page=desk_page, base_url=base, patient=patient
        )
    finally:
        for context in contexts:
            context.close()

    assert page_problems.csp_violations() == []
    assert page_problems.all() == []
