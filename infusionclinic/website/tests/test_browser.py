"""Issue 3, "Done when": in Debian's Chromium (Playwright), every public page loads with no console
error, passes axe-core (4.14.1, served from static/vendor/) with no serious or critical violation,
fits a phone's width, and a visitor signs up through the footer form.

Fixtures follow tests/browser/conftest.py (Debian's Chromium, never a downloaded browser); they
are local to this module so the public-site suite stands on its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from infusionclinic.newsletter.models import Subscriber
from infusionclinic.website.models import ConsultationRequest
from infusionclinic.website.pages import PUBLIC_PAGES

from .seeding import reseed_migration_rows

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
AXE = "/static/vendor/axe-core-4.14.1.min.js"
TIMEOUT_MS = 10_000

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _seeded(transactional_db) -> None:
    reseed_migration_rows()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI must run the browser tests, but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop in this thread; the ORM calls the test makes
    # are still synchronous and safe.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield browser
            finally:
                browser.close()


@pytest.fixture
def browser_page(chromium, live_server):
    problems: list[str] = []
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console.{msg.type}: {msg.text}")
            if msg.type in {"error", "warning"}
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "response",
        lambda resp: (
            problems.append(f"HTTP {resp.status}: {resp.url}") if resp.status >= 400 else None
        ),
    )
    try:
        yield page, problems
    finally:
        context.close()


def _axe_serious(page) -> list[str]:
    page.add_script_tag(url=AXE)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def test_every_public_page_has_no_console_error_and_no_serious_axe_violation(
    live_server, browser_page
):
    page, problems = browser_page
    urls = ["/" + p.path for p in PUBLIC_PAGES] + ["/newsletter/subscribe/"]
    for url in urls:
        page.goto(live_server.url + url)
        assert page.locator("h1").count() == 1, url
        violations = _axe_serious(page)
        assert violations == [], f"{url}: {violations}"
    assert problems == []


def test_public_pages_fit_a_phone_screen(live_server, browser_page):
    page, problems = browser_page
    page.set_viewport_size({"width": 360, "height": 740})
    for p in PUBLIC_PAGES:
        page.goto(live_server.url + "/" + p.path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"/{p.path} scrolls sideways ({width}px)"
    assert problems == []


def test_visitor_signs_up_through_the_footer_form(live_server, browser_page):
    page, problems = browser_page
    page.goto(live_server.url + "/the-science/")
    footer = page.locator("footer")
    footer.get_by_label("Email").fill("visitor@example.com")
    footer.get_by_label("Name (optional)").fill("Sam")
    footer.get_by_label("Chronic pain").check()
    footer.get_by_label("Policy and research").check()
    footer.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert _axe_serious(page) == []
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.name, subscriber.status) == (
        "visitor@example.com",
        "Sam",
        "pending",
    )
    assert subscriber.interests == ["chronic_pain", "policy_research"]
    assert problems == []


def test_visitor_requests_a_consultation(live_server, browser_page):
    page, problems = browser_page
    page.goto(live_server.url + "/is-it-right-for-me/")
    page.locator("main").get_by_role("link", name="Request a consultation", exact=True).click()
    form = page.locator("main form")
    form.get_by_label("Your name").fill("Dana Reyes")
    form.get_by_role("textbox", name="Email").fill("dana@example.com")
    form.get_by_label("What would you like help with?").select_option("depression")
    form.get_by_role("button", name="Send my request").click()
    page.get_by_role("heading", name="Thank you — we have your request").wait_for()
    assert ConsultationRequest.objects.get().name == "Dana Reyes"
    assert problems == []
