"""Issue 18 section 1, in Debian's Chromium at phone size (390 × 844): every patient page fits
the screen (document scrollWidth <= clientWidth, nothing to scroll sideways), axe-core finds no
serious or critical violation on any of them, and the portal home works with the keyboard alone
(Tab reaches every link and button in reading order, each with a visible name, and Enter
follows a link).

axe-core comes from the PyPI package axe-playwright-python (pinned in pyproject.toml), which
ships axe.min.js inside its wheel: injected from disk, never from a CDN."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.apps import apps as django_apps
from django.utils import timezone
from playwright.sync_api import expect

from infusionclinic.portal.tests.builders import (
    booked,
    course,
    open_checkin,
    paid_visit,
    portal_patient,
    scores,
    signed_consents_with_pdf,
)
from infusionclinic.scheduling.models import AppointmentStatus
from tests.factories import PASSWORD, LocationFactory

from .conftest import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
BLOCKING = {"serious", "critical"}


@pytest.fixture(autouse=True)
def _rows_written_by_migrations(transactional_db):
    """Put back the rows data migrations write (the audit chain head, consent documents, the
    protocols, the instruments, the billable services), which an earlier transactional test's
    flush removed."""
    for module, function in (
        ("infusionclinic.audit.migrations.0002_chain_head_and_append_only_trigger", "seed_head"),
        ("infusionclinic.intake.migrations.0002_consent_documents_v1", "publish"),
        ("infusionclinic.courses.migrations.0002_seed_protocols", "seed"),
        ("infusionclinic.outcomes.migrations.0002_load_instruments", "load"),
        ("infusionclinic.billing.migrations.0002_seed_services", "seed"),
        ("infusionclinic.billing.migrations.0005_protorules_seed_px4", "seed"),
    ):
        getattr(importlib.import_module(module), function)(django_apps, None)


def _fits_the_phone(page) -> None:  # noqa: ANN001
    page.wait_for_load_state("load")
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + .5)
        .slice(-6)
        .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px`)"""
    )
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways ({widths}): {wide}"


def _axe_clean(page, axe: Axe) -> None:  # noqa: ANN001
    results = axe.run(page)
    assert results.response["testEngine"]["name"] == "axe-core"  # it ran, from the wheel
    blocking = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:4])
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]
    assert not blocking, f"{page.url}: " + " | ".join(blocking)


def test_every_patient_page_fits_a_phone_is_axe_clean_and_the_home_works_by_keyboard(
    chromium, live_server
):
    location = LocationFactory(
        code="north", name="North", timezone="America/New_York", phone="555-0100"
    )
    p = portal_patient(location)
    tc = course(p)
    checkin = open_checkin(tc, days_ago=1)
    scores(p, clinic=[19, 15], home=[12, 9])
    signed_consents_with_pdf(p)
    invoice, _ = paid_visit(p, days_ago=5)
    infusion = booked(p, starts_in=timedelta(days=4), kind="infusion")
    follow_up = booked(p, starts_in=timedelta(days=8))
    day = timezone.localdate(timezone=location.tzinfo) + timedelta(days=10)

    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    axe = Axe()
    try:
        page.goto(live_server.url + "/accounts/login/")
        _fits_the_phone(page)
        _axe_clean(page, axe)
        page.get_by_label("Email").fill(p.user.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Hello, Rosa")
        assert page.url == live_server.url + "/my/"

        pages = [
            "/my/",
            "/my/chart/",
            "/my/appointments/",
            f"/my/appointments/?type=follow_up&date={day.isoformat()}",
            f"/appointments/{infusion.pk}/",
            f"/appointments/{infusion.pk}/confirm/",
            f"/my/appointments/{follow_up.pk}/reschedule/",
            f"/my/appointments/{follow_up.pk}/reschedule/?date={day.isoformat()}",
            f"/my/appointments/{follow_up.pk}/cancel/",
            "/my/check-ins/",
            f"/my/check-ins/{checkin.pk}/",
            "/my/questionnaires/",
            "/my/questionnaires/PHQ-9/",
            "/my/intake/",
            "/my/consent/",
            "/my/invoices/",
            f"/billing/invoices/{invoice.pk}/",
            "/my/packages/",
            "/my/card/",
            "/calendar-feed/",
        ]
        for path in pages:
            response = page.goto(live_server.url + path)
            assert response is not None, path
            assert response.status == 200, path
            _fits_the_phone(page)
            _axe_clean(page, axe)

        # Keyboard only on the home: Tab walks every link and button in document order, each
        # with a name, and the focus is visible where it lands.
        page.goto(live_server.url + "/my/")
        expected = page.evaluate(
            """() => [...document.querySelectorAll('a[href], button, input, select, textarea')]
            .filter(e => !e.disabled && e.offsetParent !== null && e.tabIndex >= 0)
            .map(e => e.outerHTML.slice(0, 80))"""
        )
        reached = []
        for _ in range(len(expected)):
            page.keyboard.press("Tab")
            focused = page.evaluate(
                """() => { const e = document.activeElement;
                const name = (e.innerText || e.value || e.getAttribute('aria-label') || '').trim();
                return [e.outerHTML.slice(0, 80), name,
                        getComputedStyle(e).outlineStyle !== 'none'
                        || getComputedStyle(e).boxShadow !== 'none']; }"""
            )
            assert focused[1], f"focusable element without a name: {focused[0]}"
            assert focused[2], f"no visible focus on {focused[0]}"
            reached.append(focused[0])
        assert reached == expected
        # From the skip link, Enter moves to the content; the "Reschedule" link opens by Enter.
        page.goto(live_server.url + "/my/")
        page.keyboard.press("Tab")
        expect(page.locator(":focus")).to_have_text("Skip to content")
        reschedule = page.get_by_role("link", name="Reschedule")
        reschedule.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Reschedule your appointment")
        # Confirm the appointment by keyboard: the button is reached and pressed with Enter.
        page.goto(live_server.url + "/my/")
        page.get_by_role("button", name="Confirm I will come").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("your appointment is confirmed")
        infusion.refresh_from_db()
        assert infusion.confirmed_at is not None
        assert infusion.status == AppointmentStatus.BOOKED
    finally:
        context.close()
