"""A broken new version is caught by the health judgement and rolled back at the budget, on its own."""

from __future__ import annotations

from tests.integration.release.conftest import Rig


def current_version(rig: Rig) -> str:
    (version,) = {r.version for r in rig.replicas()}
    return version


def test_a_version_that_exits_at_start_is_rolled_back(rig: Rig) -> None:
    old_version, old_ids = current_version(rig), sorted(r.id for r in rig.replicas())
    plan = rig.plan(rig.next_version(), "--hold", "1s", "--server-args", "--fault exit-at-start")
    rig.approve(plan["id"])
    res = rig.cli("release", "start", plan["id"], "--env", rig.name, "--output", "json")
    assert res.returncode == 1
    status = rig.status(plan["id"])
    assert status["phase"] == "Aborted"
    assert status["abort"]["automatic"] and "failed to start" in status["abort"]["reason"]
    assert [s["name"] for s in status["steps"]][-4:] == ["rollback_switch", "rollback_drain", "rollback_verify", "retire_new"]
    # Nothing of the broken version is left; the old replicas take new chargers as before.
    assert sorted(r.id for r in rig.replicas()) == old_ids
    assert all(r.version != plan["to_version"] for r in rig.runtime.server_replicas(rig.name))
    assert all(rig.accepting().values())
    assert rig.wait_settled(old_version) == {old_version: rig.chargers}


def test_a_version_answering_callerror_fails_the_canary_and_its_chargers_come_back(rig: Rig) -> None:
    old_version = current_version(rig)
    plan = rig.plan(
        rig.next_version(), "--hold", "3s", "--canary-share", "0.2", "--budget", "100",
        "--server-args", "--fault callerror",
    )  # fmt: skip
    rig.approve(plan["id"])
    res = rig.cli("release", "start", plan["id"], "--env", rig.name, "--output", "json")
    assert res.returncode == 1
    status = rig.status(plan["id"])
    assert status["phase"] == "Aborted"
    assert status["abort"]["automatic"] and "CALLERROR rate" in status["abort"]["reason"]
    assert "drain_rest" not in [s["name"] for s in status["steps"]]  # judged before the rest moved
    moved = status["connections"]
    assert moved["moved_forward"] == plan["canary_connections"]
    assert moved["moved_back"] >= 1  # the canary chargers were moved back, not dropped with the replicas
    assert all(r.version == old_version for r in rig.runtime.server_replicas(rig.name))
    assert rig.wait_settled(old_version) == {old_version: rig.chargers}
