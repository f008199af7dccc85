"""What an SRE sees in a real browser: environments, a release moving live, and the abort button."""

from __future__ import annotations

import json
import os
import pwd
import re
import time

from playwright.sync_api import Page, expect

from tests.fixtures.dashboard import TOKEN, Dashboard, screenshot_path
from tests.integration.release.conftest import Rig, kill9

CHARGERS = 60
REPLICAS = 2
CONN = re.compile(r"(\d+) samples · now (\d+) on the old version, (\d+) on (\S+)")


def _conn_summary(page: Page) -> tuple[int, int, int]:
    text = page.locator("#chart-conn-summary").inner_text()
    m = CONN.search(text)
    assert m, text
    return int(m[1]), int(m[2]), int(m[3])


def _start(rig: Rig, to: str, *opts: str) -> tuple[str, object]:
    plan = rig.plan(to, *opts)
    rig.approve(plan["id"])  # as the OS user: the local authority on who approves
    proc = rig.spawn("release", "start", plan["id"], "--env", rig.name, "--output", "json")
    return plan["id"], proc


def test_environments_page_lists_the_running_environment(fleet: Rig, dashboard: Dashboard, page: Page) -> None:
    page.goto(dashboard.url + "/")
    row = page.locator(f'tr[data-env="{fleet.name}"]')
    expect(row.locator(".chargers")).to_have_text(f"{CHARGERS} / {CHARGERS}", timeout=15_000)
    expect(row.locator(".replicas")).to_contain_text(f"{REPLICAS} / {REPLICAS}")
    expect(row.locator(".badge")).to_have_text("Ready")
    expect(row).to_contain_text("local")
    page.screenshot(path=screenshot_path("environments"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    expect(row.locator(".chargers")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "the page scrolls sideways on a phone"
    page.screenshot(path=screenshot_path("environments-phone"), full_page=True)


def test_release_chart_grows_and_new_version_rises(fleet: Rig, dashboard: Dashboard, page: Page) -> None:
    to = fleet.next_version()
    plan_id, proc = _start(fleet, to, "--budget", "8", "--hold", "3", "--canary-share", "0.1")
    try:
        page.goto(f"{dashboard.url}/releases/{plan_id}")
        expect(page.locator("#chart-conn-summary")).to_have_text(CONN, timeout=20_000)
        seen = [_conn_summary(page)]
        deadline = time.time() + 60
        while time.time() < deadline and seen[-1][2] < CHARGERS:
            page.wait_for_timeout(1000)
            seen.append(_conn_summary(page))
            if len(seen) == 5:
                page.screenshot(path=screenshot_path("release-live"), full_page=True)
        points = [s[0] for s in seen]
        new = [s[2] for s in seen]
        assert points[-1] >= points[0] + 4, f"the chart did not grow: {points}"
        assert new[-1] > new[0] and new[-1] == CHARGERS, f"connected to {to} did not rise to the fleet: {new}"
        assert any(b > a for a, b in zip(new, new[1:])), new
        rate_points = int(page.get_attribute("#chart-rate", "data-points") or 0)
        assert rate_points >= 5
        expect(page.locator("#phase")).to_have_text("Completed", timeout=60_000)
        assert proc.wait(timeout=30) == 0  # type: ignore[attr-defined]
        expect(page.locator("#steps tbody tr")).to_have_count(7)
        expect(page.locator("#approval")).to_contain_text(pwd.getpwuid(os.geteuid()).pw_name)
        expect(page.locator("#abort")).to_be_disabled()

        page.reload()  # a finished release keeps its chart
        expect(page.locator("#chart-conn-summary")).to_contain_text(f"0 on the old version, {CHARGERS} on {to}", timeout=15_000)
        assert _conn_summary(page)[0] >= points[-1]
        assert int(page.get_attribute("#chart-rate", "data-points") or 0) >= rate_points
        page.screenshot(path=screenshot_path("release-completed"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})  # the same release on a phone
        page.wait_for_timeout(300)  # the charts follow their container's new width
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "sideways scroll on a phone"
        assert page.evaluate("document.querySelector('#chart-conn canvas').getBoundingClientRect().right <= window.innerWidth")
        page.screenshot(path=screenshot_path("release-phone"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

        page.goto(dashboard.url + "/releases")  # listed, and linked back to its page
        listed = page.locator(f'tr[data-plan="{plan_id}"]')
        expect(listed.locator(".badge")).to_have_text("Completed", timeout=15_000)
        listed.locator("a").click()
        expect(page).to_have_url(re.compile(f"/releases/{plan_id}$"))
        expect(page.locator("#phase")).to_have_text("Completed")
    finally:
        if proc.poll() is None:  # type: ignore[attr-defined]
            kill9(proc)  # type: ignore[arg-type]


def test_abort_without_token_is_refused_with_it_the_release_rolls_back(fleet: Rig, dashboard: Dashboard, page: Page) -> None:
    before = fleet.connections_by_version()
    (current,) = before  # the version the previous release left
    to = fleet.next_version()
    plan_id, proc = _start(fleet, to, "--budget", "20", "--hold", "120")
    try:
        fleet.wait_for_step(plan_id, "canary_hold")
        page.goto(f"{dashboard.url}/releases/{plan_id}")
        expect(page.locator("#phase")).to_have_text("Paused", timeout=15_000)
        abort = page.locator("#abort")
        expect(abort).to_be_enabled()

        abort.click()  # no token in this tab
        expect(page.locator("#toast")).to_contain_text("refused (401)")
        page.wait_for_timeout(1500)
        assert fleet.store.load_abort(plan_id) is None
        expect(page.locator("#phase")).to_have_text("Paused")

        page.fill("#token", "not-the-right-token-00")
        page.click("#token-use")
        abort.click()
        expect(page.locator("#toast")).to_contain_text("refused (403)")
        assert fleet.store.load_abort(plan_id) is None

        page.fill("#token", TOKEN)
        page.click("#token-use")
        page.fill("#abort-reason", "canary looks wrong on the dashboard")
        abort.click()
        expect(page.locator("#toast")).to_contain_text("abort recorded", timeout=10_000)
        expect(page.locator("#phase")).to_have_text("Aborted", timeout=90_000)
        expect(page.locator("#release-notes")).to_contain_text("canary looks wrong on the dashboard")
        page.screenshot(path=screenshot_path("release-aborted"), full_page=True)
        assert proc.wait(timeout=30) == 1  # type: ignore[attr-defined]  # the orchestrator rolled back: not completed
        out = json.loads(proc.stdout.read())  # type: ignore[attr-defined]
        assert out["phase"] == "Aborted"

        flag = fleet.store.load_abort(plan_id)
        assert flag is not None and flag.by.startswith("dashboard token holder") and not flag.automatic
        status = fleet.status(plan_id)
        assert status["phase"] == "Aborted" and status["abort"]["by"] == flag.by
        after = fleet.wait_settled(current)
        assert after.get(current, 0) == CHARGERS and to not in after, after  # rolled back, new replicas retired
    finally:
        if proc.poll() is None:  # type: ignore[attr-defined]
            kill9(proc)  # type: ignore[arg-type]
