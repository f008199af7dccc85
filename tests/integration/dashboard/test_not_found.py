"""A page for something that does not exist says so, with a 404, instead of waiting forever."""

from __future__ import annotations

import html

from tests.fixtures.dashboard import Dashboard


def test_an_unknown_release_page_is_a_404_page_without_an_abort_button(dashboard: Dashboard) -> None:
    page = dashboard.get("/releases/nosuch-plan")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "no release 'nosuch-plan'" in html.unescape(page.text)
    assert "abort" not in page.text.lower()
    assert 'href="/releases"' in page.text  # where the releases that exist are
