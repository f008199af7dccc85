"""`envctl up/status/list/down` on the local runtime, with real server and simulator processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import psutil

from tests.integration.envs.conftest import Cli


def _pids(state_dir: Path, name: str) -> list[int]:
    record = json.loads((state_dir / "envs" / name / "env.json").read_text())
    pids = [r["pid"] for r in record["replicas"]]
    if record.get("simulator"):
        pids.append(record["simulator"]["pid"])
    return pids


def _port_accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_returns_with_every_charger_connected_across_replicas(cli: Cli) -> None:
    status = cli.up("alpha", "--chargers", "40", "--replicas", "2")

    assert status["phase"] == "Ready"
    assert status["runtime"] == "local"
    assert status["chargers"] == {"target": 40, "connected": 40}
    assert len(status["servers"]) == 2
    assert sum(s["connections"] for s in status["servers"]) == 40
    assert all(s["ready"] and s["version"] == "v1" for s in status["servers"])
    # SO_REUSEPORT spreads connections over both replicas.
    assert all(s["connections"] > 0 for s in status["servers"])
    assert status["endpoints"]["ocpp"].startswith("ws://127.0.0.1:")
    assert status["expires_at"]


def test_status_list_and_two_environments_side_by_side(cli: Cli) -> None:
    cli.up("one", "--chargers", "5")
    cli.up("two", "--chargers", "7")

    one, two = cli.json("status", "one", "--runtime", "local"), cli.json("status", "two", "--runtime", "local")
    assert one["endpoints"]["ocpp"] != two["endpoints"]["ocpp"]
    assert (one["chargers"]["connected"], two["chargers"]["connected"]) == (5, 7)
    listed = {e["name"]: e for e in cli.json("list", "--runtime", "local")}
    assert set(listed) == {"one", "two"}
    assert set(listed["one"]) >= {"name", "runtime", "phase", "chargers", "servers", "endpoints", "expires_at"}


def test_down_leaves_no_process_or_port_and_is_idempotent(cli: Cli) -> None:
    status = cli.up("gone", "--chargers", "5", "--replicas", "2")
    port = int(status["endpoints"]["ocpp"].rsplit(":", 1)[1].split("/")[0])
    pids = _pids(Path(cli.env["ENVCTL_STATE_DIR"]), "gone")

    first = cli.json("down", "gone", "--runtime", "local")
    second = cli.json("down", "gone", "--runtime", "local")

    assert first["removed"] is True and second["removed"] is False
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert not _port_accepts(port)
    missing = cli.run("status", "gone", "--runtime", "local", check=False)
    assert missing.returncode != 0 and "no local environment named 'gone'" in missing.stderr


def test_down_cleans_up_after_a_crashed_up(cli: Cli) -> None:
    state = Path(cli.env["ENVCTL_STATE_DIR"])
    up = subprocess.Popen(
        [sys.executable, "-m", "envctl", "up", "crashy", "--runtime", "local", "--chargers", "3", "--replicas", "2"],
        env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env_json = state / "envs" / "crashy" / "env.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (env_json.exists() and _pids(state, "crashy")):
        time.sleep(0.05)
    os.kill(up.pid, signal.SIGKILL)
    up.wait()
    orphans = _pids(state, "crashy")
    assert orphans, "up was killed before it started anything"

    assert cli.json("down", "crashy", "--runtime", "local")["removed"] is True
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in orphans)


def test_bad_input_is_refused_with_a_clear_error(cli: Cli) -> None:
    bad_name = cli.run("up", "Not_Valid", "--runtime", "local", check=False)
    bad_ttl = cli.run("up", "ok", "--runtime", "local", "--ttl", "forever", check=False)

    assert bad_name.returncode == 2 and "invalid environment name 'Not_Valid'" in bad_name.stderr
    assert bad_ttl.returncode == 2 and "invalid duration 'forever'" in bad_ttl.stderr
    assert not (Path(cli.env["ENVCTL_STATE_DIR"]) / "envs" / "ok").exists()


def test_extend_pushes_expiry_and_gc_removes_only_expired(cli: Cli) -> None:
    keep = cli.up("keep", "--chargers", "1", "--ttl", "1h")
    cli.up("short", "--chargers", "1", "--ttl", "2s")

    extended = cli.json("extend", "keep", "2h", "--runtime", "local")
    time.sleep(2.5)
    dry = cli.json("gc", "--dry-run", "--runtime", "local")
    done = cli.json("gc", "--runtime", "local")

    gained = datetime.fromisoformat(extended["expires_at"]) - datetime.fromisoformat(keep["expires_at"])
    assert timedelta(hours=1, minutes=59) < gained < timedelta(hours=2, minutes=1)
    assert dry["expired"] == ["short"] and done["expired"] == ["short"]
    assert [e["name"] for e in cli.json("list", "--runtime", "local")] == ["keep"]
    too_long = cli.run("extend", "keep", "30d", "--runtime", "local", check=False)
    assert too_long.returncode == 4 and "envs.max_ttl" in too_long.stderr
