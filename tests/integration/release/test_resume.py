"""kill -9 the orchestrator, from outside, at every step boundary (and inside steps); `resume`
finishes the release with no finished step redone, no extra replica started, and the budget kept
across the crash. The test watches the persisted status and kills the moment it shows the point."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from envctl.release.pacing import default_burst
from tests.integration.release.conftest import Rig, kill_when, max_in_window

BUDGET = 100.0

CRASH_POINTS = [
    "during:start_new",  # one new replica started and recorded, the other not yet
    "after:start_new",
    "after:switch_traffic",
    "during:canary_drain",  # tokens spent (write-ahead) for the first batch
    "after:canary_drain",
    "during:canary_hold",
    "during:drain_rest",
    "after:drain_rest",
    "after:verify",
    "during:retire_old",  # one old replica retired, the other still running
]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_resume_after_kill_9(rig: Rig, point: str) -> None:
    target = rig.next_version()
    plan = rig.plan(target, "--budget", str(BUDGET), "--hold", "1s", "--canary-share", "0.1")
    rig.approve(plan["id"])

    running = rig.spawn("release", "start", plan["id"], "--env", rig.name, "--output", "json")
    kill_when(running, rig.store, plan["id"], point)
    assert running.returncode == -9
    assert rig.status(plan["id"])["phase"] in ("Progressing", "Paused")

    resumed = rig.cli("release", "resume", plan["id"], "--env", rig.name, "--output", "json")
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)
    assert doc["phase"] == "Completed" and doc["resumes"] == 1

    status = rig.store.load_status(plan["id"])
    assert status is not None
    assert [s.name for s in status.steps] == [
        "start_new", "switch_traffic", "canary_drain", "canary_hold", "drain_rest", "verify", "retire_old"
    ]  # fmt: skip
    events = rig.store.events(plan["id"])
    started = Counter(e["step"] for e in events if e["event"] == "step_started")
    assert set(started.values()) == {1}, started  # no step began twice
    assert status.replicas_started == plan["new_replicas"]
    live = rig.replicas()
    assert sorted(r.version for r in live) == [target] * plan["new_replicas"]
    assert rig.wait_all_connected() == rig.chargers
    assert max_in_window(events) <= BUDGET + default_burst(BUDGET)
