"""`envctl scale` and `envctl rebalance` on the local runtime: real replicas, real sockets, a real
simulator with charging sessions in flight, and its ledger checked against the server's database."""

from __future__ import annotations

import json
import signal
import time

import httpx
import psutil

from tests.integration.fleet.conftest import Env

BUDGET = 100


def within_band(connections: dict[str, int], tolerance: float = 0.05) -> bool:
    mean = sum(connections.values()) / len(connections)
    return all(abs(c - mean) <= tolerance * mean for c in connections.values())


def nothing_lost(ledger: dict[str, object]) -> None:
    assert ledger["started"] and ledger["acknowledged"], ledger  # sessions really ran during the moves
    for key in ("lost", "duplicated", "id_mismatch"):
        assert ledger[key] == 0, ledger
    for key in ("stops_lost", "meter_values_lost", "phantom"):  # the ledger's newer counters, once there
        assert ledger.get(key, 0) == 0, ledger


def test_three_replicas_scaled_to_five_end_balanced_within_budget_and_nothing_is_lost(env: Env) -> None:
    scaled = env.json("scale", env.name, "--replicas", "5")
    assert scaled["replicas_before"] == 3 and scaled["replicas"] == 5 and len(scaled["started"]) == 2
    assert scaled["rebalance_suggested"] is True and scaled["spread_pct"] == 100.0  # the new ones are empty
    assert sorted(env.connections().values())[:2] == [0, 0]  # connections never move by themselves

    t0 = time.time()
    report = env.json("rebalance", env.name, "--budget", str(BUDGET))
    t1 = time.time()
    # 600 chargers on 5 replicas: 120 each; the 3 old ones held ~200 each, so ~240 must move.
    assert 200 <= report["moved"] <= 260, report
    assert report["spread_pct"] <= 5.0 and within_band(report["after"]), report
    assert report["peak_reconnects_per_s"] <= BUDGET, report  # servers' exact per-second counts
    assert report["peak_disconnects_per_s"] <= BUDGET, report
    assert report["duration_s"] >= 200 / BUDGET, report  # paced, not a burst
    assert env.sim_reconnects_peak(t0, t1) <= BUDGET  # and the chargers' side agrees
    assert report["aborted"] is None

    assert env.wait_all_connected() == env.chargers
    assert within_band(env.connections())
    assert all(s["accepting"] for s in env.stats().values())  # every listener reopened
    nothing_lost(env.ledger())

    again = env.json("rebalance", env.name, "--budget", str(BUDGET))
    assert again["moved"] == 0  # already balanced: nobody is disturbed


def test_scaling_down_drains_the_removed_replicas_at_the_budget_first(env: Env) -> None:
    env.json("scale", env.name, "--replicas", "5", "--rebalance", "--budget", str(BUDGET))
    before = env.runtime.server_replicas(env.name)
    t0 = time.time()
    scaled = env.json("scale", env.name, "--replicas", "2", "--budget", str(BUDGET))
    t1 = time.time()
    drain = scaled["drain"]
    assert scaled["replicas"] == 2 and len(scaled["retired"]) == 3
    assert all(drain["after"][rid] == 0 for rid in scaled["retired"])  # emptied before they were stopped
    assert 300 <= drain["moved"] <= 400  # 3 x ~120
    assert drain["peak_reconnects_per_s"] <= BUDGET and env.sim_reconnects_peak(t0, t1) <= BUDGET
    gone = [r for r in before if r.id in scaled["retired"]]
    assert gone and not any(psutil.pid_exists(r.pid) and r.alive for r in gone)
    assert env.wait_all_connected() == env.chargers
    assert within_band(env.connections())
    nothing_lost(env.ledger())


def test_a_replica_dying_mid_move_stops_the_rebalance_with_every_listener_reopened(env: Env) -> None:
    env.json("scale", env.name, "--replicas", "5")
    running = env.spawn("rebalance", env.name, "--budget", "20", "--output", "json")
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not any(not s["accepting"] for s in env.stats().values()):
            time.sleep(0.1)
        time.sleep(1.5)
        victim = next(r for r in env.runtime.server_replicas(env.name) if r.id == "r4")
        psutil.Process(victim.pid).send_signal(signal.SIGKILL)
        out, err = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 1, err
    report = json.loads(out)
    assert report["aborted"].startswith("unhealthy: only 4 of 5"), report  # the release engine's judgement
    assert report["moved"] < 240
    alive = env.stats()
    assert len(alive) == 4 and all(s["accepting"] for s in alive.values())
    assert env.wait_all_connected() == env.chargers  # r4's chargers found the others


def test_moves_are_refused_while_a_release_runs(env: Env) -> None:
    plan = env.json("release", "plan", "--env", env.name, "--to", "v2", "--hold", "60s", "--budget", "200")
    env.json("release", "approve", plan["id"], "--env", env.name)
    release = env.spawn("release", "start", plan["id"], "--env", env.name, "--output", "json")
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if env.json("release", "status", plan["id"], "--env", env.name)["phase"] == "Paused":
                break
            time.sleep(0.2)
        for args in (["rebalance", env.name], ["scale", env.name, "--replicas", "6"]):
            done = env.cli(*args, "--output", "json")
            assert done.returncode == 4, done.stderr
            assert f"release {plan['id']} is in progress" in json.loads(done.stderr)["message"]
    finally:
        env.cli("release", "abort", plan["id"], "--env", env.name, "--reason", "test over")
        release.wait(timeout=60)


def test_bad_input_is_refused_with_a_clear_error(env: Env) -> None:
    for args, code, says in (
        (["scale", env.name, "--replicas", "0"], 2, "--replicas must be at least 1"),
        (["rebalance", env.name, "--budget", "0"], 2, "--budget must be > 0"),
        (["rebalance", "nope"], 3, "no local environment named 'nope'"),
        (["rebalance", env.name, "--runtime", "kubernetes"], 2, "does not expose to envctl yet"),
    ):
        done = env.cli(*args, "--output", "json")
        assert done.returncode == code, (args, done.stderr)
        assert says in json.loads(done.stderr)["message"], done.stderr
    assert sum(env.connections().values()) == env.chargers  # nothing was touched
    assert httpx.get(f"{env.runtime.server_replicas(env.name)[0].admin_url}/readyz").status_code == 200
