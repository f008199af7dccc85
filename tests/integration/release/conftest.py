"""A real local fleet (charger-server replicas + simulator processes) and the `envctl` CLI as a user runs it.

One fleet per test module: each test releases it to a fresh version (v2, v3, ...), so the fleet a
test starts from is whatever the previous release left, which is what a real fleet looks like.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from envctl.release.store import FileReleaseStore
from envctl.runtimes.local import LocalRuntime
from envctl.release.status import ReleaseStatus
from tests.fakes.github_api import FakeGitHub


class Rig:
    def __init__(self, state_dir: Path, name: str, chargers: int) -> None:
        self.state_dir, self.name, self.chargers = state_dir, name, chargers
        self.runtime = LocalRuntime(state_dir)
        self.env_dir = self.runtime.env_dir(name)
        self.store = FileReleaseStore(self.env_dir / "releases")
        self._versions = itertools.count(2)

    def next_version(self) -> str:
        return f"v{next(self._versions)}"

    def env(self, **extra: str) -> dict[str, str]:
        # Outside a test that says otherwise, envctl must not think it runs in GitHub Actions (the
        # suite itself may): there the approver and the planner come from GitHub's API.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ENVCTL_RELEASE_", "GITHUB_", "ENVCTL_GITHUB_"))}
        # Nor that a cluster is configured: these releases run on the local runtime.
        no_cluster = str(self.state_dir / "no-kubeconfig")
        return env | {"ENVCTL_STATE_DIR": str(self.state_dir), "COLUMNS": "200", "KUBECONFIG": no_cluster} | extra

    def cli(self, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "envctl", *args], env=self.env(**extra), capture_output=True, text=True, timeout=timeout
        )

    def spawn(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "envctl", *args], env=self.env(**extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def plan(self, to: str, *opts: str) -> dict[str, Any]:
        res = self.cli("release", "plan", "--env", self.name, "--to", to, "--output", "json", *opts)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def approve(self, plan_id: str) -> None:
        """As the OS user running the tests, who also planned it: allowed on the local runtime."""
        res = self.cli("release", "approve", plan_id, "--env", self.name)
        assert res.returncode == 0, res.stderr

    def status(self, plan_id: str) -> dict[str, Any]:
        res = self.cli("release", "status", plan_id, "--env", self.name, "--output", "json")
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def sim(self) -> dict[str, Any]:
        return json.loads((self.env_dir / "sim-status.json").read_text())

    def replicas(self) -> list[Any]:
        return [r for r in self.runtime.server_replicas(self.name) if r.alive]

    def wait_all_connected(self, timeout: float = 30.0) -> int:
        deadline = time.time() + timeout
        while time.time() < deadline:
            connected = int(self.sim().get("connected", 0))
            if connected >= self.chargers:
                return connected
            time.sleep(0.2)
        return int(self.sim().get("connected", 0))

    def connections_by_version(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.replicas():
            stats = httpx.get(f"{r.admin_url}/admin/stats", timeout=2).json()
            out[r.version] = out.get(r.version, 0) + int(stats["connections"])
        return out

    def accepting(self) -> dict[str, bool]:
        return {r.id: bool(httpx.get(f"{r.admin_url}/admin/stats", timeout=2).json()["accepting"]) for r in self.replicas()}

    def wait_settled(self, version: str, timeout: float = 30.0) -> dict[str, int]:
        """Until every charger is connected and all of them to `version`."""
        deadline = time.time() + timeout
        seen: dict[str, int] = {}
        while time.time() < deadline:
            seen = self.connections_by_version()
            if seen.get(version, 0) >= self.chargers and int(self.sim().get("connected", 0)) >= self.chargers:
                return seen
            time.sleep(0.2)
        return seen

    def wait_for_step(self, plan_id: str, step: str, timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            status = self.store.load_status(plan_id)
            if status is not None and status.step(step) is not None:
                return
            time.sleep(0.1)
        raise AssertionError(f"release {plan_id} never reached {step}")


def _up(state_dir: Path, name: str, chargers: int, replicas: int) -> Rig:
    rig = Rig(state_dir, name, chargers)
    # Through the CLI, as a user would: the replicas must not be children of the test process
    # (a parent that never reaps them would keep them as zombies when the release retires them).
    res = rig.cli("up", name, "--runtime", "local", "--chargers", str(chargers), "--replicas", str(replicas),
                  "--server-version", "v1", "--output", "json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    return rig


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A module may set CHARGERS / REPLICAS for its fleet; default 100 chargers on 2 replicas."""
    state_dir = tmp_path_factory.mktemp("state")
    old = os.environ.get("ENVCTL_STATE_DIR")
    old_kubeconfig = os.environ.get("KUBECONFIG")
    os.environ["ENVCTL_STATE_DIR"] = str(state_dir)
    os.environ["KUBECONFIG"] = str(state_dir / "no-kubeconfig")  # releases here run on the local runtime
    chargers, replicas = getattr(request.module, "CHARGERS", 100), getattr(request.module, "REPLICAS", 2)
    rig = _up(state_dir, "rel", chargers=chargers, replicas=replicas)
    try:
        yield rig
    finally:
        rig.runtime.down("rel", force=True)  # a test may leave a release unfinished: it goes with the fleet
        for key, value in (("ENVCTL_STATE_DIR", old), ("KUBECONFIG", old_kubeconfig)):
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    """The fake GitHub API a module's CI jobs ask about their runs."""
    fake = FakeGitHub().start()
    yield fake
    fake.stop()


def kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


# Moments to kill an orchestrator at, read off its persisted status (what a resume starts from).
MOMENTS: dict[str, Callable[[ReleaseStatus], bool]] = {
    "during:start_new": lambda s: len(s.new_replica_ids) >= 1 and not s.done("start_new"),
    "after:start_new": lambda s: s.done("start_new"),
    "after:switch_traffic": lambda s: s.done("switch_traffic"),
    "during:canary_drain": lambda s: s.step("canary_drain") is not None and s.moved_forward >= 1,
    "after:canary_drain": lambda s: s.done("canary_drain"),
    "during:canary_hold": lambda s: s.step("canary_hold") is not None,
    "during:drain_rest": lambda s: (r := s.step("drain_rest")) is not None and r.detail.get("closed", 0) >= 3,
    "after:drain_rest": lambda s: s.done("drain_rest"),
    "after:verify": lambda s: s.done("verify"),
    "during:retire_old": lambda s: (r := s.step("retire_old")) is not None and len(r.detail.get("retired", [])) >= 1,
}


def kill_when(proc: subprocess.Popen[str], store: Any, plan_id: str, moment: str, timeout: float = 120) -> ReleaseStatus:
    """SIGKILL the orchestrator from outside as soon as its persisted status shows `moment`
    (polled every few milliseconds); returns the status it was killed at."""
    seen = MOMENTS[moment]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = store.load_status(plan_id)
        if status is not None and seen(status):
            kill9(proc)
            return status
        if proc.poll() is not None:
            raise AssertionError(f"the orchestrator exited ({proc.returncode}) before {moment}: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.005)
    kill9(proc)
    raise AssertionError(f"release {plan_id} never reached {moment}")


def max_in_window(events: list[dict[str, Any]], window: float = 1.0) -> int:
    batches = sorted((e["t"], e["closed"]) for e in events if e.get("event") == "disconnect")
    best = 0
    for i, (t0, _) in enumerate(batches):
        best = max(best, sum(n for t, n in batches[i:] if t < t0 + window))
    return best
