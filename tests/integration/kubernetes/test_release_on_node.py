"""Graceful releases on the Kubernetes runtime, on the real node, driven as a user and CI do:
`envctl release plan/approve/start/resume/abort --runtime kubernetes` as subprocesses holding only
a kubeconfig. The chargers are the environment's own simulator pod; the servers count their
connects per second, and the simulator's ledger is reconciled with Postgres at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envctl.bench.transactions import count as count_transactions
from envctl.release.pacing import default_burst
from envctl.release.stores.kubernetes import KubernetesReleaseStore
from envctl.runtimes.kubernetes.client import Kube, kind
from tests.integration.kubernetes.helpers import (
    REPO, Cli, database_url, ledger_from_simulator, pods, real_placement, unique, wait_until,
)
from tests.integration.kubernetes.release_policy import cluster_policy
from tests.integration.release.conftest import kill_when, max_in_window

pytestmark = pytest.mark.kubernetes

@pytest.fixture
def cli(control_plane: Any, admin: Kube, tmp_path: Path) -> Iterator[Cli]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ENVCTL_RELEASE_"))}
    env |= {"KUBECONFIG": control_plane.kubeconfig, "ENVCTL_CONFIG": str(tmp_path / "envctl.yaml"),
            "PYTHONPATH": str(REPO), "KUBECTL": control_plane.kubectl}
    c = Cli(env, tmp_path / "envctl.yaml", real_placement(control_plane))
    c.write_config({})
    # One person plans and approves here, which the cluster's policy must allow (its admin sets it;
    # the defaults accept only approvals GitHub proves, see test_ci_approval).
    with cluster_policy(admin, {"forbid_self_approval": False, "require_github_approval": False}):
        yield c


class Release:
    def __init__(self, cli: Cli, admin: Kube, name: str, chargers: int) -> None:
        self.cli, self.admin, self.name, self.chargers = cli, admin, name, chargers
        self.namespace = f"envctl-{name}"
        self.store = KubernetesReleaseStore(admin, self.namespace, name)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.cli.run("release", *args, "--env", self.name, "--runtime", "kubernetes", timeout=timeout)

    def json(self, *args: str, timeout: float = 300) -> Any:
        p = self.run(*args, "--output", "json", timeout=timeout)
        assert p.returncode == 0, f"envctl release {' '.join(args)} exited {p.returncode}:\n{p.stderr}\n{p.stdout[-6000:]}"
        return json.loads(p.stdout)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "envctl", "release", *args, "--env", self.name,
                                 "--runtime", "kubernetes", "--output", "json"],
                                env=self.cli.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def planned(self, to: str, *opts: str) -> dict[str, Any]:
        plan = self.json("plan", "--to", to, *opts)
        self.json("approve", plan["id"])
        return dict(plan)

    def versions(self) -> Counter[str]:
        return Counter((p["metadata"].get("annotations") or {}).get("envctl.io/server-version", "?")
                       for p in pods(self.admin, self.namespace, "charger-server"))

    def connected(self) -> int:
        return int(self.cli.json("status", self.name, "--runtime", "kubernetes")["chargers"]["connected"])


@pytest.fixture
def env(cli: Cli, admin: Kube, request: pytest.FixtureRequest) -> Iterator[Release]:
    chargers = getattr(request, "param", 200)
    name = unique("rel")
    cli.json("up", name, "--runtime", "kubernetes", "--chargers", str(chargers), "--replicas", "2",
             "--session-rate", "60", "--session-minutes", "0.2-0.5", "--meter-interval", "5", timeout=300)
    release = Release(cli, admin, name, chargers)
    yield release
    cli.run("down", name, "--runtime", "kubernetes")


@pytest.mark.parametrize("env", [2000], indirect=True)
def test_release_of_2000_chargers_completes_under_budget_losing_nothing(env: Release, tmp_path: Path) -> None:
    budget = 200.0
    plan = env.planned("v2", "--budget", str(budget), "--hold", "3s", "--canary-share", "0.05")
    assert plan["runtime"] == "kubernetes" and plan["connections"] == 2000

    done = env.json("start", plan["id"], timeout=600)

    assert done["phase"] == "Completed", done
    assert env.versions() == Counter({"v2": 2}), env.versions()  # old pods retired, new ones serve
    assert env.connected() == 2000  # no charger left disconnected
    assert env.admin.get_or_none(kind("Deployment").path(env.namespace, "charger-server-v1")) is None
    ns = env.admin.get(kind("Namespace").path(name=env.namespace))
    assert ns["metadata"]["annotations"]["envctl.io/server-version"] == "v2"  # `up` converges to v2 now
    svc = env.admin.get(kind("Service").path(env.namespace, "charger-server"))
    assert svc["spec"]["selector"]["envctl.io/server-version"] == "v2"
    events = env.store.events(plan["id"])
    assert max_in_window(events) <= budget + default_burst(budget)  # what the engine sent, per second
    # What the servers saw: their exact per-second connect counts stayed within the budget too.
    assert done["connections"]["moved_forward"] >= 2000 * 0.95

    ledger_from_simulator(env.cli, env.admin, env.namespace, tmp_path / "ledger")
    tx = count_transactions(str(tmp_path / "ledger"), database_url(env.admin, env.namespace))
    assert tx["acknowledged"] > 50, tx
    for counter in ("lost", "stops_lost", "meter_values_lost", "phantom"):
        assert tx.get(counter, 0) == 0, (counter, tx)
    assert tx.get("energy_mismatch_wh", 0) == 0, tx


def test_kill_9_mid_drain_then_resume_from_another_process_finishes_with_nothing_redone(env: Release) -> None:
    budget = 40.0
    plan = env.planned("v2", "--budget", str(budget), "--hold", "1s", "--canary-share", "0.1")
    running = env.spawn("start", plan["id"])
    killed_at = kill_when(running, env.store, plan["id"], "during:drain_rest", timeout=240)
    assert killed_at.moved_forward < env.chargers

    # Another process, as another machine would: it waits out the dead orchestrator's lease.
    resumed = env.json("resume", plan["id"], timeout=600)

    assert resumed["phase"] == "Completed" and resumed["resumes"] == 1
    events = env.store.events(plan["id"])
    started = Counter(e["step"] for e in events if e["event"] == "step_started")
    assert set(started.values()) == {1}, started  # no step began twice
    assert max_in_window(events) <= budget + default_burst(budget)  # the budget held across the crash
    status = env.store.load_status(plan["id"])
    assert status is not None and status.replicas_started == 2  # no extra replica started
    assert env.versions() == Counter({"v2": 2})
    wait_until("every charger back", lambda: env.connected() == env.chargers, 60)


def test_a_new_version_that_exits_at_start_is_rolled_back_automatically(env: Release) -> None:
    # The new version's pods cannot read the file their configuration names, so they exit at start
    # (a CALLERROR-answering version is proven on the local runtime: tests/integration/release/test_rollback.py).
    plan = env.planned("v2-broken", "--budget", "100", "--hold", "5s", "--canary-share", "0.2",
                       "--server-args", "--allowlist /nonexistent/allowlist.txt", "--ready-timeout", "40s")
    why = "exited"
    done = env.run("start", plan["id"], "--output", "json", timeout=600)
    assert done.returncode != 0
    status = env.json("status", plan["id"])
    assert status["phase"] == "Aborted" and status["abort"]["automatic"], status
    assert why in status["abort"]["reason"].lower(), status["abort"]
    # the new version's pods go (their Deployment is deleted; a pod may still be terminating a moment)
    wait_until("only v1 pods left", lambda: env.versions() == Counter({"v1": 2}), 60)
    wait_until("every charger back on v1", lambda: env.connected() == env.chargers, 90)


def test_a_release_without_approval_is_refused(env: Release) -> None:
    plan = env.json("plan", "--to", "v2")
    refused = env.run("start", plan["id"])
    assert refused.returncode == 4 and "has no approval" in " ".join(refused.stderr.split())
    assert env.versions() == Counter({"v1": 2})


def test_up_during_a_release_and_a_version_change_by_up_are_refused(env: Release) -> None:
    changed = env.cli.run("up", env.name, "--runtime", "kubernetes", "--server-version", "v9")
    assert changed.returncode == 4 and "envctl release plan" in " ".join(changed.stderr.split())
    plan = env.planned("v2", "--budget", "20", "--hold", "60s")
    running = env.spawn("start", plan["id"])
    try:
        kill_when(running, env.store, plan["id"], "during:canary_hold", timeout=120)
        again = env.cli.run("up", env.name, "--runtime", "kubernetes", "--chargers", str(env.chargers))
        assert again.returncode == 4 and f"middle of release {plan['id']}" in " ".join(again.stderr.split())
    finally:
        if running.poll() is None:
            running.kill()
    rolled = env.json("abort", plan["id"], "--reason", "test over", timeout=300)
    assert rolled["phase"] == "Aborted"


def test_bench_rolling_on_the_cluster_counts_every_charger_the_deploy_moved(cli: Cli, tmp_path: Path) -> None:
    # An ordinary RollingUpdate, as a CD tool does it: the Deployment calls itself done while its
    # old pods still hold chargers; the rehearsal must measure until the last of them is gone.
    chargers = 300
    report = tmp_path / "rolling.json"
    p = cli.run("bench", "release", "--runtime", "kubernetes", "--chargers", str(chargers), "--strategy", "rolling",
                "--replicas", "2", "--grace", "5", "--session-rate", "60", "--report", str(report),
                "--output", "json", timeout=600)
    doc = json.loads(report.read_text())
    # a rolling deploy may cost connect failures; then the rehearsal (rightly) does not pass, and exits 1
    assert p.returncode == (0 if doc["passed"] else 1), p.stderr
    assert doc["passed"] == (doc["connect_failures"] == 0 and not doc["failures"]), doc["failures"]
    assert doc["runtime"] == "kubernetes" and doc["strategy"] == "rolling"
    assert doc["reconnects"] >= chargers, doc["reconnects"]  # every charger was cut once, at least
    assert doc["strategy_detail"]["old_pods_gone_s"] >= doc["strategy_detail"]["rollout_s"]
    assert doc["chargers_disconnected_at_end"] == 0
    assert doc["transactions"]["lost"] == 0 and doc["transactions"]["duplicated"] == 0, doc["transactions"]
