"""Storms the release engine does not cause, on a real local fleet: a reconnect rate over the budget
aborts and rolls back the release; retiring a replica that still holds chargers moves them at the
budget instead of closing them all at once."""

from __future__ import annotations

import os
import signal
import time

import httpx

from envctl.release.engine import Engine, new_status
from envctl.release.fleets.local import LocalFleet
from envctl.release.status import FORWARD_STEPS, StepRecord
from tests.integration.release.conftest import Rig, max_in_window

CHARGERS = 120
REPLICAS = 2


def test_a_reconnect_storm_over_the_budget_aborts_and_rolls_back(rig: Rig) -> None:
    (old_version,) = {r.version for r in rig.replicas()}
    plan = rig.plan(rig.next_version(), "--hold", "40s", "--budget", "10", "--canary-share", "0.05",
                    "--rate-margin", "0.25", "--rate-over-for", "0")  # fmt: skip
    rig.approve(plan["id"])
    running = rig.spawn("release", "start", plan["id"], "--env", rig.name, "--output", "json")
    try:
        rig.wait_for_step(plan["id"], "canary_hold")
        # An old replica crashes: its chargers reconnect at once, to the new replicas (the only
        # ones accepting), far above the 10/s budget.
        victim = rig.replicas()[0]
        os.kill(victim.pid, signal.SIGKILL)
        assert running.wait(timeout=90) == 1
    finally:
        if running.poll() is None:
            running.kill()
    status = rig.status(plan["id"])
    assert status["phase"] == "Aborted" and status["abort"]["automatic"], status["abort"]
    assert "fleet-wide reconnects reached" in status["abort"]["reason"] and "budget of 10/s" in status["abort"]["reason"]
    assert all(r.version == old_version for r in rig.replicas())
    assert rig.wait_settled(old_version, timeout=60) == {old_version: rig.chargers}


def test_retiring_a_replica_that_still_holds_chargers_paces_them_out(rig: Rig) -> None:
    """An orchestrator resuming at retire_old while old replicas still hold chargers (they came back
    to them while it was down): retiring must not drop them all at once."""
    old = rig.replicas()
    budget = 20.0
    plan_doc = rig.plan(rig.next_version(), "--budget", str(budget), "--hold", "0s")
    plan = rig.store.load_plan(plan_doc["id"])
    assert plan is not None
    new = rig.runtime.start_server_replica(rig.name, plan.to_version)
    token = rig.runtime.admin_token(rig.name)
    auth = {"Authorization": f"Bearer {token}"}
    for r in old:  # traffic switched: only the new replica takes chargers
        httpx.post(f"{r.admin_url}/admin/listen", json={"accepting": False}, headers=auth, timeout=5).raise_for_status()
    httpx.post(f"{old[0].admin_url}/admin/disconnect", json={"count": 30}, headers=auth, timeout=5).raise_for_status()
    time.sleep(2)
    held = rig.connections_by_version()
    assert held.get(plan.to_version, 0) >= 25 and held[old[0].version] >= 60, held

    status = new_status(plan, "test", "test", time.time())
    status.new_replica_ids = [new.id]
    status.fleet_connections_at_start = rig.chargers
    now = time.time()
    status.steps = [StepRecord(name=s, started_at=now, finished_at=now) for s in FORWARD_STEPS[:-1]]
    fleet = LocalFleet(rig.runtime, rig.name)
    try:
        started = time.time()
        done = Engine(plan, fleet, rig.store).run(status)
        took = time.time() - started
    finally:
        fleet.close()
    assert done.finished_at is not None and done.abort is None
    events = rig.store.events(plan.id)
    closed = sum(e["closed"] for e in events if e.get("event") == "disconnect")
    assert closed >= held[old[0].version] - 2, "the retiring replicas' chargers were moved, not dropped"
    assert max_in_window(events) <= budget, "moved at the budget"
    assert took >= (closed - budget) / budget
    assert {r.version for r in rig.replicas()} == {plan.to_version}
    assert rig.wait_settled(plan.to_version) == {plan.to_version: rig.chargers}
