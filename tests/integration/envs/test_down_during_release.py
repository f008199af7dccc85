"""`envctl down` never cuts a release short by accident: refused while one runs, `--force` aborts it
first (its orchestrator rolls back and exits), and the release's history outlives the environment."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.integration.envs.conftest import Cli


def test_down_is_refused_during_a_release_and_force_aborts_it_first(cli: Cli) -> None:
    state = Path(cli.env["ENVCTL_STATE_DIR"])
    cli.up("rel", "--chargers", "20", "--replicas", "2")
    plan = cli.json("release", "plan", "--env", "rel", "--to", "v2", "--hold", "120s", "--budget", "200")
    cli.json("release", "approve", plan["id"], "--env", "rel")
    orchestrator = subprocess.Popen([sys.executable, "-m", "envctl", "release", "start", plan["id"], "--env", "rel",
                                     "--output", "json"], env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while cli.json("release", "status", plan["id"], "--env", "rel")["phase"] != "Paused":
            assert time.monotonic() < deadline, "the release never reached its canary hold"
            time.sleep(0.3)
        pids = [r["pid"] for r in json.loads((state / "envs" / "rel" / "env.json").read_text())["replicas"]]

        refused = cli.run("down", "rel", "--runtime", "local", "--output", "json", check=False)
        also = cli.run("up", "rel", "--runtime", "local", "--output", "json", check=False)

        assert refused.returncode == 4, refused.stderr
        said = json.loads(refused.stderr)
        assert f"release {plan['id']} of rel is in progress (Paused)" in said["message"]
        assert "envctl down rel --force" in said["hint"]
        assert also.returncode == 4 and "is in progress" in json.loads(also.stderr)["message"]
        assert orchestrator.poll() is None, "the orchestrator died"
        assert all(psutil.pid_exists(p) for p in pids)
        assert cli.json("release", "status", plan["id"], "--env", "rel")["phase"] == "Paused"

        forced = cli.json("down", "rel", "--runtime", "local", "--force", timeout=180)

        assert forced["removed"] is True
        orchestrator.wait(timeout=30)  # it rolled back and exited before anything was removed
    finally:
        if orchestrator.poll() is None:
            orchestrator.kill()
            orchestrator.wait()
    kept = state / "history" / "releases" / "rel" / plan["id"]
    status = json.loads((kept / "status.json").read_text())
    assert (kept / "plan.json").is_file() and (kept / "approval.json").is_file() and (kept / "events.jsonl").is_file()
    assert status["abort"]["reason"] == "`envctl down rel --force`" and status["finished_at"] is not None
    assert not (state / "envs" / "rel").exists()
    journal = [json.loads(line) for line in (state / "history" / "rel.jsonl").read_text().splitlines()]
    assert journal[-1]["action"] == "down" and journal[-1]["force"] is True


def test_release_history_outlives_a_plain_down(cli: Cli) -> None:
    state = Path(cli.env["ENVCTL_STATE_DIR"])
    cli.up("hist", "--chargers", "2")
    plan = cli.json("release", "plan", "--env", "hist", "--to", "v2")

    cli.json("down", "hist", "--runtime", "local")

    assert json.loads((state / "history" / "releases" / "hist" / plan["id"] / "plan.json").read_text())["to_version"] == "v2"


def test_cli_extend_and_down_are_in_the_environments_history_with_the_os_user(cli: Cli) -> None:
    import os
    import pwd

    state = Path(cli.env["ENVCTL_STATE_DIR"])
    cli.up("journal", "--chargers", "1")
    extended = cli.json("extend", "journal", "2h", "--runtime", "local")
    cli.json("down", "journal", "--runtime", "local")

    journal = [json.loads(line) for line in (state / "history" / "journal.jsonl").read_text().splitlines()]
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert [(e["action"], e["actor"], e["via"]) for e in journal] == [("extend", me, "cli"), ("down", me, "cli")]
    assert journal[0]["expires_at"].startswith(extended["expires_at"][:16])
