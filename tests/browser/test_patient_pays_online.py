"""Issue 19: the patient pays an issued invoice from the portal at phone width through Stripe's
hosted page (the in-process fake, tests/fake_stripe.py). The payment appears only once the fake
has delivered the signed webhook; no card field is ever on our pages."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import expect

from infusionclinic.billing import services
from infusionclinic.billing.models import Payment
from infusionclinic.billing.services import LineInput
from infusionclinic.billing.tests.factories import completed_appointment, price
from tests.factories import PASSWORD, LocationFactory, PatientFactory, make_user
from tests.fake_stripe import FakeStripe, start

from .conftest import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _rows_written_by_migrations(transactional_db):
    """Put back the billable services the data migrations seed, which an earlier
    transactional test's flush removed."""
    for module in (
        "infusionclinic.billing.migrations.0002_seed_services",
        "infusionclinic.billing.migrations.0005_protorules_seed_px4",
    ):
        importlib.import_module(module).seed(django_apps, None)


def test_patient_pays_an_invoice_through_the_hosted_page_at_phone_width(
    chromium, live_server, settings
):
    fake = FakeStripe(webhook_secret="whsec_browser")
    server, base = start(fake)
    fake.webhook_url = live_server.url + "/billing/stripe/webhook/"
    settings.STRIPE_SECRET_KEY = "sk_test_browser"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_browser"
    settings.STRIPE_API_BASE = base

    north = LocationFactory(code="north", name="North", timezone="America/New_York")
    patient = PatientFactory(home_location=north, email="ines@example.com")
    desk = make_user("front_desk", north)
    price(north, "90791", "180.00")
    invoice = services.invoice_create(
        actor=desk,
        appointment=completed_appointment(patient, north, kind="consultation"),
        lines=[LineInput("90791", 1)],
    )
    user = make_user("patient", patient=patient)

    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    try:
        page.goto(live_server.url + "/accounts/login/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name=re.compile("Log in", re.I)).click()
        page.goto(live_server.url + "/my/invoices/")
        page.get_by_role("link", name=invoice.number).click()
        expect(page.get_by_text("Balance due")).to_be_visible()
        assert page.locator("input[name*=card], input[autocomplete^=cc-]").count() == 0
        page.get_by_role("button", name="Pay now by card ($180.00)").click()
        expect(page.get_by_text("$180.00")).to_be_visible()
        page.get_by_role("link", name=re.compile("secure payment page")).click()
        expect(page.get_by_role("heading", name="Pay $180.00")).to_be_visible()
        page.get_by_role("button", name="Pay").click()
        expect(page.get_by_role("status")).to_contain_text("as soon as the card processor confirms")
        page.reload()
        expect(
            page.get_by_text(re.compile(r"Payment \$180\.00 \(Card\).*online \(Stripe\)"))
        ).to_be_visible()
        expect(page.locator("dd", has_text="$0.00").last).to_be_visible()
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390
    finally:
        context.close()
        server.shutdown()
    assert fake.deliveries == [("checkout.session.completed", 200)]
    assert Payment.objects.get(invoice=invoice).provider == "stripe"
