"""Playwright fixtures: Debian's Chromium (never a downloaded browser) against pytest-django's
live_server, with every console error, page error and failed request collected for the test to
assert on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Generous for a loaded CI machine, short enough that a broken page fails in seconds.
TIMEOUT_MS = 10_000


def _running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API runs an asyncio loop in the test's thread. Django then refuses ORM
    calls there (async-unsafe guard) and hands out a separate connection object while the loop
    runs. The first is lifted for the browser modules only; the second is why `chromium` starts
    after the database is ready and closes what it opened."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture
def chromium(
    _orm_beside_playwright: None,
    transactional_db: None,
    live_server,  # type: ignore[no-untyped-def]
) -> Iterator[object]:
    """Debian's Chromium, started only after the test database is ready (live_server needs
    committed rows, hence transactional_db)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if _running_in_ci():
            pytest.fail(f"CI must run the browser tests, but {reason}")
        pytest.skip(reason)
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
            # The connections the test body opened while the loop ran; left open, PostgreSQL
            # would refuse to drop the test database at the end of the session.
            connections.close_all()


@dataclass
class PageProblems:
    """What a person would see in the browser's developer console."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [*self.console_errors, *self.page_errors, *self.failed_requests]

    def csp_violations(self) -> list[str]:
        return [m for m in self.all() if "Content Security Policy" in m]


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(chromium, live_server, page_problems: PageProblems):  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on(
        "console",
        lambda msg: (
            page_problems.console_errors.append(f"console.{msg.type}: {msg.text}")
            if msg.type in {"error", "warning"}
            else None
        ),
    )
    page.on("pageerror", lambda exc: page_problems.page_errors.append(f"page error: {exc}"))
    page.on(
        "requestfailed",
        lambda req: page_problems.failed_requests.append(
            f"request failed: {req.method} {req.url} ({req.failure})"
        ),
    )
    page.on(
        "response",
        lambda resp: (
            page_problems.failed_requests.append(f"HTTP {resp.status}: {resp.url}")
            if resp.status >= 400
            else None
        ),
    )
    try:
        yield page
    finally:
        context.close()
