"""`envctl bench capacity` against a real replica, and `envctl capacity` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envctl.capacity.profile import CapacityProfile
from tests.unit.capacity.test_arithmetic import FAST

QUICK = ["--step", "0.7", "--growth", "2", "--max-steps", "3", "--hold-connections", "300",
         "--message-connections", "50", "--connect-start", "20", "--heartbeat-start", "200", "--durable-start", "20"]
# The mechanics are under test (a real replica, judged step by step), not this shared machine's speed:
# a bound a busy machine still meets at the first steps.
ROOMY_P99 = ["--p99-ms", "250"]


def envctl(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envctl", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})  # fmt: skip


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_bench_capacity_measures_one_real_replica(tmp_path: Path) -> None:
    report = tmp_path / "profile.json"
    summary = as_json(envctl("bench", "capacity", "--report", str(report), *QUICK, *ROOMY_P99, "-o", "json"))
    profile = CapacityProfile.load(report)
    assert summary["connects_per_s"] == profile.connects.per_s > 0
    assert profile.shared_store is not None and profile.shared_store_writers == 2
    for limit in (profile.connects, profile.heartbeats, profile.durable_messages, profile.shared_store):
        offered = [s.offered_per_s for s in limit.steps]
        assert offered[0] > 0 and len(offered) >= 1
        good = [s for s in limit.steps if s.ok]
        assert good, limit.steps
        # the limit is what the replica answered in its best step, at the p99 bound
        assert limit.per_s == max(s.achieved_per_s for s in good)
        assert all(s.handler_p99_ms is not None and s.within_bound_ratio is not None for s in limit.steps)
        assert all(s.within_bound_ratio >= 0.99 for s in good)  # type: ignore[operator]
        assert limit.cpu_cores > 0 and limit.cpu_s_per_op > 0
    # the ladder grows by --growth until a step fails or --max-steps
    assert [s.offered_per_s for s in profile.heartbeats.steps][:2] in ([200.0, 400.0], [200.0, 200.0])
    assert profile.p99_bound_ms == 250 and profile.connect_statuses == 3
    assert 1_000 < profile.memory.per_connection_bytes < 200_000
    assert profile.memory.connections_measured == 300
    assert 1_000 < profile.connections_limit < 20_000  # this machine: 20,000 descriptors per process
    assert profile.conditions["loadavg_at_start"]

    sized = as_json(envctl("capacity", "--chargers", "1000", "--profile", str(report), "-o", "json"))
    assert sized["replicas"] >= 1 and sized["profile"]["connects_per_s"] == profile.connects.per_s


@pytest.mark.slow
def test_a_bound_no_step_can_meet_leaves_no_limit_and_capacity_refuses_it(tmp_path: Path) -> None:
    report = tmp_path / "profile.json"
    as_json(envctl("bench", "capacity", "--report", str(report), *QUICK, "--p99-ms", "0.0001", "-o", "json"))
    data = json.loads(report.read_text())
    for name in ("connects", "heartbeats", "durable_messages"):
        assert data[name]["per_s"] == 0
        assert all(not s["ok"] and "handler p99" in s["why_not"] for s in data[name]["steps"])
    done = envctl("capacity", "--chargers", "1000", "--profile", str(report), "-o", "json")
    assert done.returncode == 2
    assert "has no measured limit for connects, heartbeats, durable_messages" in json.loads(done.stderr)["message"]


def test_capacity_answers_in_text_json_and_png(tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    FAST.save(profile)
    png = tmp_path / "load.png"
    d = as_json(envctl("capacity", "--chargers", "30000", "--heartbeat", "60s", "--spike", "5",
                       "--profile", str(profile), "--plot", str(png), "-o", "json"))  # fmt: skip
    # the DESIGN.md contract, with the hand-worked figures of tests/unit/capacity/test_arithmetic.py
    assert d["replicas"] == 2
    assert d["requests"] == {"cpu": "1000m", "memory": "426Mi"}
    assert d["storm_absorbed_per_s"] == pytest.approx(3950.0)
    assert d["release_budget_per_s"] == 3750
    assert d["release_duration_s"] == pytest.approx(63.4, abs=0.1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000

    text = envctl("capacity", "--chargers", "30000", "--profile", str(profile))
    assert text.returncode == 0, text.stderr
    assert "replicas             2" in text.stdout and "3,750 reconnects/s" in text.stdout

    # the profile envctl.yaml names is the default
    cfg = tmp_path / "envctl.yaml"
    cfg.write_text(f"capacity:\n  profile: {profile}\n")
    assert as_json(envctl("capacity", "--chargers", "30000", "-o", "json", env={"ENVCTL_CONFIG": str(cfg)}))["replicas"] == 2


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--heartbeat", "0s"], 2, "--heartbeat must be positive"),
        (["--heartbeat", "soon"], 2, "invalid duration 'soon'"),
        (["--session-minutes", "long"], 2, "--session-minutes 'long' is not a number"),
        (["--spike", "0.5"], 2, "--spike must be at least 1"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, args: list[str], code: int, says: str) -> None:
    profile = tmp_path / "p.json"
    FAST.save(profile)
    done = envctl("capacity", "--chargers", "100", "--profile", str(profile), *args, "-o", "json")
    assert done.returncode == code and says in json.loads(done.stderr)["message"], done.stderr


def test_a_missing_or_broken_profile_says_how_to_make_one(tmp_path: Path) -> None:
    missing = envctl("capacity", "--chargers", "100", "--profile", str(tmp_path / "none.json"), "-o", "json")
    assert missing.returncode == 3 and "envctl bench capacity --report" in json.loads(missing.stderr)["hint"]
    broken = tmp_path / "broken.json"
    broken.write_text('{"kind": "envctl.capacity/v1", "connects": 3}')
    done = envctl("capacity", "--chargers", "100", "--profile", str(broken), "-o", "json")
    assert done.returncode == 2
    err = json.loads(done.stderr)
    assert err["error"] == "config" and "is not an envctl.capacity/v1 profile" in err["message"]
