"""Debian's headless Chromium driven by Playwright, looking at a real dashboard over a real fleet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.fixtures.dashboard import CHROMIUM_FLAGS, require_chromium
from tests.integration.dashboard.conftest import dashboard, fleet, state_dir  # noqa: F401  (same real processes)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = require_chromium()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("dialog", lambda dialog: dialog.accept())  # the confirm() before abort / tear down
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
