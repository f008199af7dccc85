"""A broken new version is caught by the health judgement and rolled back at the budget, on its own.

The faults come from outside the server: a new version whose configuration it cannot read (it
exits at start), and a proxy in the way of the new version that spoils its chargers' CALLs (the
real server answers each with a CALLERROR).
"""

from __future__ import annotations

import socket
from pathlib import Path

from tests.integration.release.conftest import Rig
from tests.integration.release.spoiling_proxy import SpoilingProxy


def current_version(rig: Rig) -> str:
    (version,) = {r.version for r in rig.replicas()}
    return version


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_version_that_exits_at_start_is_rolled_back(rig: Rig, tmp_path: Path) -> None:
    old_version, old_ids = current_version(rig), sorted(r.id for r in rig.replicas())
    missing = tmp_path / "no-such-allowlist.txt"  # the new version cannot read its own configuration
    plan = rig.plan(rig.next_version(), "--hold", "1s", "--server-args", f"--allowlist {missing}")
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
    old_version, own_port = current_version(rig), free_port()
    (env_port,) = {r.ocpp_port for r in rig.replicas()}
    with SpoilingProxy(listen_port=env_port, upstream_port=own_port) as proxy:
        plan = rig.plan(
            rig.next_version(), "--hold", "3s", "--canary-share", "0.2", "--budget", "100",
            "--server-args", f"--port {own_port}",  # the new version listens behind the proxy
        )  # fmt: skip
        rig.approve(plan["id"])
        res = rig.cli("release", "start", plan["id"], "--env", rig.name, "--output", "json")
    assert proxy.joined and proxy.spoiled > 0
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
