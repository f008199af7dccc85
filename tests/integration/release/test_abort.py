"""Aborting by hand: the running orchestrator rolls back; with none running, `abort` rolls back itself.
Either way no charger is left disconnected and the new replicas are gone."""

from __future__ import annotations

import json

from tests.integration.release.conftest import Rig, kill_when


def test_abort_during_the_canary_hold_rolls_back_the_running_release(rig: Rig) -> None:
    (old_version,) = {r.version for r in rig.replicas()}
    plan = rig.plan(rig.next_version(), "--hold", "60s", "--canary-share", "0.1")
    rig.approve(plan["id"])
    running = rig.spawn("release", "start", plan["id"], "--env", rig.name, "--output", "json")
    try:
        rig.wait_for_step(plan["id"], "canary_hold")
        assert rig.status(plan["id"])["phase"] == "Paused"
        res = rig.cli("release", "abort", plan["id"], "--env", rig.name, "--reason", "pager went off", "--output", "json")
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["note"] == "the running orchestrator will roll back"
        assert running.wait(timeout=45) == 1
    finally:
        if running.poll() is None:
            running.kill()
    status = rig.status(plan["id"])
    assert status["phase"] == "Aborted"
    assert status["abort"]["reason"] == "pager went off" and not status["abort"]["automatic"]
    assert status["connections"]["moved_back"] >= 1
    assert all(r.version == old_version for r in rig.runtime.server_replicas(rig.name))
    assert rig.wait_settled(old_version) == {old_version: rig.chargers}
    again = rig.cli("release", "abort", plan["id"], "--env", rig.name)
    assert again.returncode == 4 and "already Aborted" in again.stderr


def test_abort_after_the_orchestrator_died_mid_drain_is_carried_out_by_abort(rig: Rig) -> None:
    (old_version,) = {r.version for r in rig.replicas()}
    plan = rig.plan(rig.next_version(), "--hold", "0s", "--budget", "50")
    rig.approve(plan["id"])
    running = rig.spawn("release", "start", plan["id"], "--env", rig.name, "--output", "json")
    kill_when(running, rig.store, plan["id"], "during:drain_rest")
    mid = rig.connections_by_version()
    assert mid.get(plan["to_version"], 0) > 0 and mid.get(old_version, 0) > 0  # really halfway
    res = rig.cli("release", "abort", plan["id"], "--env", rig.name, "--output", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["note"] == "rolled back" and doc["phase"] == "Aborted"
    assert doc["connections"]["moved_back"] >= mid[plan["to_version"]] - 2
    assert all(r.version == old_version for r in rig.runtime.server_replicas(rig.name))
    assert rig.wait_settled(old_version) == {old_version: rig.chargers}


def test_abort_is_refused_for_a_release_that_never_started(rig: Rig) -> None:
    plan = rig.plan(rig.next_version())
    res = rig.cli("release", "abort", plan["id"], "--env", rig.name)
    assert res.returncode == 4 and "has not started" in res.stderr
