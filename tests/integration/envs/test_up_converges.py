"""`envctl up NAME` on an environment that exists: idempotent when the request matches, refused
naming what differs, crashed processes restarted in place with the database kept, and concurrent
`up`s of one name serialised. Real server and simulator processes, driven through the CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from tests.integration.envs.conftest import Cli


def _record(cli: Cli, name: str) -> dict[str, Any]:
    return dict(json.loads((Path(cli.env["ENVCTL_STATE_DIR"]) / "envs" / name / "env.json").read_text()))


def _pids(record: dict[str, Any]) -> set[int]:
    return {r["pid"] for r in record["replicas"]} | {record["simulator"]["pid"]}


def _transactions(cli: Cli, name: str) -> int:
    db = Path(cli.env["ENVCTL_STATE_DIR"]) / "envs" / name / "charger.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM transactions").fetchone()[0])


def _said(done: subprocess.CompletedProcess[str]) -> str:
    """The error's message and hint, from `--output json` (rich wraps text output)."""
    err = json.loads(done.stderr)
    return f"{err['message']} {err['hint']}"


def test_up_of_a_matching_environment_changes_nothing(cli: Cli) -> None:
    first = cli.up("same", "--chargers", "4", "--replicas", "2", "--ttl", "2h")
    before = _record(cli, "same")

    again = cli.up("same", "--chargers", "4", "--replicas", "2", "--ttl", "2h")
    bare = cli.up("same")  # no options: whatever it has

    assert again["endpoints"] == first["endpoints"] == bare["endpoints"]
    assert again["phase"] == bare["phase"] == "Ready" and bare["chargers"] == {"target": 4, "connected": 4}
    assert _pids(_record(cli, "same")) == _pids(before)
    assert _record(cli, "same")["created_at"] == before["created_at"]


def test_up_with_other_numbers_is_refused_naming_the_difference_and_loses_nothing(cli: Cli) -> None:
    first = cli.up("keep", "--chargers", "4")
    before = _record(cli, "keep")

    more = cli.run("up", "keep", "--runtime", "local", "--chargers", "6", "-o", "json", check=False)
    # Same chargers, other replicas and version: once silently ignored.
    shape = cli.run("up", "keep", "--runtime", "local", "--chargers", "4", "--replicas", "5", "--server-version", "v7",
                    "-o", "json", check=False)  # fmt: skip

    assert more.returncode == 4, more.stderr
    assert "--chargers 4 now, 6 asked" in _said(more) and "--recreate" in _said(more)
    assert shape.returncode == 4, shape.stderr
    assert "--replicas 1 now, 5 asked" in _said(shape) and "--server-version v1 now, v7 asked" in _said(shape)
    assert "envctl scale keep --replicas 5" in _said(shape) and "envctl release plan --env keep --to v7" in _said(shape)
    status = cli.json("status", "keep", "--runtime", "local")
    assert status["endpoints"] == first["endpoints"] and status["chargers"] == {"target": 4, "connected": 4}
    assert _pids(_record(cli, "keep")) == _pids(before)


def test_recreate_replaces_it_when_asked_for(cli: Cli) -> None:
    first = cli.up("anew", "--chargers", "2")

    second = cli.up("anew", "--chargers", "3", "--recreate")

    assert second["chargers"] == {"target": 3, "connected": 3}
    assert second["endpoints"]["ocpp"] != first["endpoints"]["ocpp"]


def test_up_after_a_replica_crash_restarts_it_in_place_and_keeps_the_data(cli: Cli) -> None:
    # 20 chargers, each starting about one 1-2 minute session a minute: transactions accumulate.
    first = cli.up("crash", "--chargers", "20", "--replicas", "2", "--session-rate", "60",
                   "--session-minutes", "1-2", "--meter-interval", "5")  # fmt: skip
    deadline = time.monotonic() + 30
    while _transactions(cli, "crash") < 5 and time.monotonic() < deadline:
        time.sleep(0.5)
    before = _transactions(cli, "crash")
    record = _record(cli, "crash")
    dead = record["replicas"][0]
    os.kill(dead["pid"], signal.SIGKILL)

    again = cli.up("crash")

    assert before >= 5
    assert again["phase"] == "Ready" and again["chargers"] == {"target": 20, "connected": 20}
    assert again["endpoints"]["ocpp"] == first["endpoints"]["ocpp"]
    assert len(again["servers"]) == 2 and dead["id"] not in {s["id"] for s in again["servers"]}
    assert record["replicas"][1]["pid"] in _pids(_record(cli, "crash"))  # the survivor was left alone
    assert _transactions(cli, "crash") >= before  # once wiped: 89 rows to 1


def test_concurrent_ups_of_one_name_are_serialised(cli: Cli) -> None:
    def spawn(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "envctl", "up", "race", "--runtime", "local", *args,
                                 "--output", "json"], env=cli.env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)  # fmt: skip

    cli.created.append("race")
    ups = [spawn("--chargers", "3"), spawn("--chargers", "3"), spawn("--chargers", "5")]
    results = [(p.wait(timeout=120), *p.communicate()) for p in ups]

    ready = [json.loads(out) for code, out, _err in results if code == 0]
    refused = [err for code, _out, err in results if code == 4]
    # Whichever came first made it; a matching request got the same environment, a differing one was refused.
    assert len(ready) + len(refused) == 3, results
    assert len({r["endpoints"]["ocpp"] for r in ready}) == 1
    assert all("already exists and differs" in json.loads(err)["message"] for err in refused)
    record = _record(cli, "race")
    assert len(record["replicas"]) == 1
    alive = [p for p in psutil.process_iter(["cmdline"]) if str(record["ocpp_port"]) in " ".join(p.info["cmdline"] or [])]
    assert len([p for p in alive if "server" in (p.info["cmdline"] or [])]) == 1, "a second `up` started its own server"
