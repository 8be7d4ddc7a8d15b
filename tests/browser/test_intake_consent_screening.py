"""Issue 4, "Done when": in Debian's Chromium, a patient completes the intake (saved as they type,
resumable) and signs consent in the portal; a prescriber sees the screening result with its rule
ids and reviews a relative finding with a reason."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps as django_apps
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.intake.models import ConsentSignature, Intake, IntakeStatus, PrescriberReview
from infusionclinic.intake.selectors import consent_documents_current
from infusionclinic.patients.models import Diagnosis
from tests.factories import PASSWORD, LocationFactory, PatientFactory, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _rows_written_by_migrations(transactional_db):
    """A transactional test that ran before on this worker (e.g. the mail worker test) leaves
    every table empty, including the rows data migrations write: the audit chain head and
    version 1 of the consent documents. Put them back, as the migrations do."""
    for module, function in (
        ("infusionclinic.audit.migrations.0002_chain_head_and_append_only_trigger", "seed_head"),
        ("infusionclinic.intake.migrations.0002_consent_documents_v1", "publish"),
    ):
        getattr(importlib.import_module(module), function)(django_apps, None)


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
    "raised_eye_or_brain_pressure",
    "urinary_symptoms",
    "suicide_attempts",
)


def _log_in(page, live_server, email: str) -> None:
    page.goto(live_server.url + "/accounts/login/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _wait_for_autosave(page) -> None:
    """Let the delayed htmx autosave fire and finish before leaving the page."""
    page.wait_for_timeout(1000)
    page.wait_for_load_state("networkidle")
    expect(page.locator("#autosave-status")).to_contain_text("Draft saved at")


def test_patient_completes_intake_and_signs_consent_then_prescriber_reviews(
    live_server, page, page_problems
):
    north = LocationFactory(code="north", name="North", timezone="America/New_York")
    patient = PatientFactory(
        home_location=north, given_name="Marisol", family_name="Quintana", sex_at_birth="female"
    )
    Diagnosis.objects.create(patient=patient, code="F43.12", description="PTSD, chronic")
    patient_user = make_user("patient", patient=patient)
    prescriber = make_user("prescriber", north)
    device = TOTPDevice.objects.create(user=prescriber, name="app", confirmed=True)

    # This branch ships no favicon (base.html has no icon link yet), so Chromium's automatic
    # /favicon.ico request would 404; answer it here so the console check sees the app's pages.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))

    # --- The patient, in the portal ---
    _log_in(page, live_server, patient_user.email)
    expect(page).to_have_url(re.compile(r"/my/$"))
    page.wait_for_load_state("load")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My intake").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Intake: Marisol Quintana")
    # htmx is loaded with `defer`: autosave works once it has run.
    page.wait_for_function("() => typeof window.htmx === 'object'")

    # Answers are saved as they are typed (htmx), without pressing a button...
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.request.headers.get("hx-request") == "true"
    ) as saved:
        page.get_by_label("Medical history").fill("Appendectomy 2004.")
    assert saved.value.ok
    _wait_for_autosave(page)
    # ...so the intake can be resumed later.
    page.reload()
    expect(page.get_by_label("Medical history")).to_have_value("Appendectomy 2004.")
    assert Intake.objects.get(patient=patient).status == IntakeStatus.DRAFT

    page.get_by_label("Current medications").fill("Sertraline 100 mg daily")
    page.get_by_label("Allergies").fill("None known")
    for name in NO_QUESTIONS:
        page.locator(f"#id_{name}").select_option("no")
    # A past substance-use problem: a relative contraindication (ELIG-B2).
    page.locator("#id_substance_use_history").select_option("yes")
    page.get_by_label("Liver disease").select_option("none")
    page.get_by_label("Weight (kg)").fill("64")
    page.get_by_label("Height (cm)").fill("165")
    page.get_by_label("Emergency contact name").fill("Luis Quintana")
    page.get_by_label("Emergency contact phone").fill("555-0142")
    page.get_by_label("Escort name").fill("Luis Quintana")
    page.get_by_label("Escort phone").fill("555-0142")
    _wait_for_autosave(page)
    page.get_by_role("button", name="Submit intake").click()
    expect(page.get_by_text("Intake submitted. Thank you.")).to_be_visible()
    expect(page.get_by_text("The intake is locked")).to_be_visible()
    page.wait_for_load_state("load")
    assert Intake.objects.get(patient=patient).status == IntakeStatus.SUBMITTED

    # Consent: every current document, one review-and-sign act (issue 21 point 12): a box per
    # document, the typed legal name once.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Consent").click()
    documents = consent_documents_current()
    form = page.get_by_role("form", name="Review and sign")
    for document in documents:
        form.get_by_label(f"I have read {document.title} (version {document.version})").check()
    form.get_by_label("Type your full legal name").fill("Marisol Quintana")
    form.get_by_role("button", name=f"Sign {len(documents)} documents").click()
    expect(page.get_by_text(f"Signed {len(documents)} consent documents")).to_be_visible()
    page.wait_for_load_state("load")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Consent").click()
    expect(page.get_by_text("Signed by Marisol Quintana")).to_have_count(len(documents))
    signatures = ConsentSignature.objects.filter(patient=patient)
    assert signatures.count() == len(documents)
    assert {s.client_address for s in signatures} == {"127.0.0.1"}
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.wait_for_load_state("load")

    # --- The prescriber ---
    _log_in(page, live_server, prescriber.email)
    expect(page.get_by_role("heading", name="Two-factor log-in")).to_be_visible()
    page.wait_for_load_state("load")
    totp = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.get_by_label("6-digit code from your authenticator app").fill(
        f"{totp.token():0{device.digits}d}"
    )
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Prescriber", level=1)).to_be_visible()
    page.wait_for_load_state("load")

    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.get_by_role("link", name="Eligibility screening").click()
    expect(page).to_have_url(f"{live_server.url}/patients/{patient.pk}/screening/")
    page.wait_for_load_state("load")
    result = page.locator("#result")
    expect(result).to_contain_text("Needs a prescriber's review")
    finding = page.locator("#finding-ELIG-B2")
    expect(finding).to_contain_text("Past substance use disorder")
    expect(page.get_by_text("Treatment-resistance count (PROT-2)")).to_be_visible()
    expect(page.locator("#finding-PRE-3")).to_contain_text("urine drug screen")

    review = page.get_by_role("form", name="Review ELIG-B2")
    review.get_by_label("Proceed despite the finding").check()
    review.get_by_label("Reason for ELIG-B2").fill("In remission for 8 years; sponsor engaged.")
    review.get_by_role("button", name="Record review").click()
    expect(page.get_by_text("Review of ELIG-B2 recorded.")).to_be_visible()
    expect(result).to_contain_text("Eligible")
    expect(finding).to_contain_text("In remission for 8 years; sponsor engaged.")
    # Eligible, but staff have not countersigned the consent yet: no booking.
    expect(page.get_by_text("An infusion cannot be booked yet:")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Consent not yet countersigned by staff"))).to_have_count(
        len(documents)
    )

    review_row = PrescriberReview.objects.get(patient=patient)
    assert (review_row.rule_id, review_row.decision, review_row.reviewed_by) == (
        "ELIG-B2",
        "proceed",
        prescriber,
    )
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="intake.PrescriberReview", actor=prescriber
    ).exists()
    assert page_problems.csp_violations() == []
    assert page_problems.all() == []
