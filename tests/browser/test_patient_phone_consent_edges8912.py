"""Issue 21 points 11 and 12, in Debian's Chromium at phone width (390 × 844): no patient page
scrolls sideways (/my/intake/, the consent page, the portal home), and the patient signs every
consent document in one review-and-sign flow and lands on their portal home."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import expect

from infusionclinic.intake.models import ConsentSignature
from infusionclinic.intake.selectors import consent_documents_current
from tests.factories import PASSWORD, LocationFactory, PatientFactory, make_user

from .conftest import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _rows_written_by_migrations(transactional_db):
    """Put back the rows data migrations write (the audit chain head, consent documents v1),
    which an earlier transactional test's flush removed."""
    for module, function in (
        ("infusionclinic.audit.migrations.0002_chain_head_and_append_only_trigger", "seed_head"),
        ("infusionclinic.intake.migrations.0002_consent_documents_v1", "publish"),
    ):
        getattr(importlib.import_module(module), function)(django_apps, None)


def _no_sideways_scroll(page) -> None:
    page.wait_for_load_state("load")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    # The elements that stick out, named in the failure message.
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > 390.5)
        .slice(-6)
        .map(e => `${e.tagName}.${e.className} ${e.getBoundingClientRect().width}px`)"""
    )
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at {PHONE['width']} px: {wide}"


def test_patient_signs_every_consent_in_one_flow_at_phone_width(chromium, live_server):
    north = LocationFactory(code="north", name="North", timezone="America/New_York")
    patient = PatientFactory(home_location=north, given_name="Marisol", family_name="Quintana")
    user = make_user("patient", patient=patient)
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    try:
        page.goto(live_server.url + "/accounts/login/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/my/$"))
        _no_sideways_scroll(page)

        page.goto(live_server.url + "/my/intake/")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Intake: Marisol Quintana")
        _no_sideways_scroll(page)

        page.goto(live_server.url + "/my/consent/")
        expect(page).to_have_url(re.compile(r"/my/consent/$"))
        _no_sideways_scroll(page)
        documents = consent_documents_current()
        form = page.get_by_role("form", name="Review and sign")
        for document in documents:
            form.get_by_text(f"Read {document.title}", exact=True).click()  # opens it in full
            form.get_by_label(f"I have read {document.title} (version {document.version})").check()
        _no_sideways_scroll(page)  # with every document open
        form.get_by_label("Type your full legal name").fill("Marisol Quintana")
        form.get_by_role("button", name=f"Sign {len(documents)} documents").click()

        expect(page).to_have_url(re.compile(r"/my/$"))
        expect(page.get_by_text(f"Signed {len(documents)} consent documents")).to_be_visible()
        _no_sideways_scroll(page)
        assert ConsentSignature.objects.filter(patient=patient).count() == len(documents)
        page.goto(live_server.url + "/my/consent/")
        expect(page.get_by_text("Every current consent document is signed.")).to_be_visible()
        _no_sideways_scroll(page)
    finally:
        context.close()
