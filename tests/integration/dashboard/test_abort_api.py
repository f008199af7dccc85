"""Aborting through the API: with an orchestrator running, and with none left to read the flag."""

from __future__ import annotations

import time

from pathlib import Path

from tests.fixtures.dashboard import TOKEN, Dashboard, running_dashboard
from tests.integration.release.conftest import Rig, kill9

CHARGERS = 30
ENV_NAME = "dashab"
UP_ARGS = ("--session-rate", "360", "--session-minutes", "1-2", "--meter-interval", "10")  # transactions in flight


def _wait_phase(dash: Dashboard, plan_id: str, phase: str, timeout: float = 90) -> dict:
    deadline = time.time() + timeout
    doc: dict = {}
    while time.time() < deadline:
        doc = dash.get(f"/api/releases/{plan_id}").json()
        if doc.get("phase") == phase:
            return doc
        time.sleep(0.3)
    raise AssertionError(f"release {plan_id} never reached {phase}: {doc}")


def test_a_release_no_dashboard_watched_gets_its_chart_from_the_journal(fleet: Rig, state_dir: Path, tmp_path: Path) -> None:
    # first in the module: no dashboard runs yet while this release does
    plan = fleet.plan(fleet.next_version(), "--budget", "15", "--hold", "1")
    fleet.approve(plan["id"])
    res = fleet.cli("release", "start", plan["id"], "--env", fleet.name, "--output", "json")
    assert res.returncode == 0, res.stderr
    with running_dashboard(state_dir, tmp_path) as dash:
        timeline = dash.get(f"/api/releases/{plan['id']}/timeline").json()
    assert timeline["source"] == "journal" and timeline["finished"] and timeline["conn"] == []
    assert sum(r[1] for r in timeline["rates"]) == CHARGERS  # every charger the engine moved, per second
    assert 1 <= timeline["peak_reconnects_per_s"] <= 15


def test_release_status_api_is_the_status_json(fleet: Rig, dashboard: Dashboard) -> None:
    plan = fleet.plan(fleet.next_version(), "--budget", "50")
    served = dashboard.get(f"/api/releases/{plan['id']}").json()
    cli = fleet.status(plan["id"])
    assert served["phase"] == cli["phase"] == "Pending"
    assert {k: served[k] for k in cli} == cli
    assert served["plan"]["budget_per_s"] == 50 and served["plan"]["hash"] == cli["plan_hash"]
    listed = dashboard.get("/api/releases").json()["releases"]
    assert plan["id"] in [r["plan_id"] for r in listed]


def test_abort_with_no_orchestrator_left_is_rolled_back_by_the_dashboard(fleet: Rig, dashboard: Dashboard) -> None:
    (current,) = fleet.connections_by_version()
    to = fleet.next_version()
    plan = fleet.plan(to, "--budget", "20", "--hold", "120")
    fleet.approve(plan["id"])
    proc = fleet.spawn("release", "start", plan["id"], "--env", fleet.name)
    fleet.wait_for_step(plan["id"], "canary_hold")
    kill9(proc)  # the orchestrator is gone: nobody reads the abort flag unless the dashboard does

    resp = dashboard.post(f"/api/releases/{plan['id']}/abort", token=TOKEN, json={"reason": "orchestrator died"})
    assert resp.status_code == 202, resp.text
    assert resp.json()["note"] == "no orchestrator was running: the dashboard rolls back"
    doc = _wait_phase(dashboard, plan["id"], "Aborted")
    assert doc["abort"]["by"].startswith("dashboard token holder") and doc["abort"]["reason"] == "orchestrator died"
    settled = fleet.wait_settled(current)
    assert settled.get(current) == CHARGERS and to not in settled

    again = dashboard.post(f"/api/releases/{plan['id']}/abort", token=TOKEN, json={})
    assert again.status_code == 409 and "already Aborted" in again.json()["message"]


def test_the_feed_keeps_sampling_a_release_nobody_watches(fleet: Rig, dashboard: Dashboard) -> None:
    (current,) = fleet.connections_by_version()
    to = fleet.next_version()
    plan = fleet.plan(to, "--budget", "15", "--hold", "1")
    fleet.approve(plan["id"])
    res = fleet.cli("release", "start", plan["id"], "--env", fleet.name, "--output", "json")
    assert res.returncode == 0, res.stderr
    deadline = time.time() + 20  # the feed keeps a few seconds' tail after the release finished
    while not (timeline := dashboard.get(f"/api/releases/{plan['id']}/timeline").json())["finished"]:
        assert time.time() < deadline, "the feed never finished sampling the release"
        time.sleep(0.5)
    samples = [e for e in fleet.store.events(plan["id"]) if e.get("event") == "dashboard_sample"]
    assert len(samples) >= 3, "the dashboard did not sample a release while no page was open"
    assert timeline["source"] == "live"
    assert timeline["conn"][-1][1:] == [0, CHARGERS]  # all on the new version at the end
    assert 1 <= timeline["peak_reconnects_per_s"] <= 15
    assert sum(r[1] for r in timeline["rates"]) >= CHARGERS  # every charger's reconnect was counted
    assert current != to
    tx = timeline["tx"]  # the simulator ledger's live counters moved during the release
    assert tx["started"] > 0 and tx["tx_acknowledged"] > 0
    checked = timeline["checked"]  # and, once finished, the ledger checked against the database
    assert checked["started"] > 0 and checked["acknowledged"] > 0 and checked["lost"] == 0
