"""Warm capacity on the real control plane: kwok nodes with a limited allocatable, the real
kube-scheduler deciding (and preempting), previews started through the `envctl` CLI.

A node here has room for exactly one preview environment (or one placeholder): 400m CPU, while
a preview (no chargers: server + Postgres) asks 300m and a placeholder holds a whole preview's
worth with its simulator, 400m. So:
- with a placeholder on the node, a preview's pods preempt it and are scheduled within seconds,
  and the evicted placeholder comes back Pending (what asks a cluster autoscaler for a node);
- with no placeholder holding room, a preview's pods stay Pending until a node is added.
kwok marks pods Running without running them: what is tested is scheduling, not the processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envctl.runtimes.kubernetes.client import Kube, kind
from tests.integration.kubernetes.helpers import KWOK_PLACEMENT, NS, REPO, Cli, unique
from tests.integration.kubernetes.kwok_nodes import add_node, remove_nodes

pytestmark = pytest.mark.kubernetes

def pods_of(admin: Kube, namespace: str) -> list[dict[str, Any]]:
    return [p for p in admin.list(kind("Pod").path(namespace)) if not p["metadata"].get("deletionTimestamp")]


def unschedulable(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "PodScheduled" and c["status"] == "False" and c.get("reason") == "Unschedulable"
               for c in pod.get("status", {}).get("conditions") or [])  # fmt: skip


@pytest.fixture
def pool(control_plane: Any, tmp_path: Path) -> Iterator[tuple[Cli, Kube, str]]:
    """An envctl.yaml whose previews and placeholders go to this test's nodes only."""
    pool_id = unique("warm")
    admin = Kube(control_plane.kubeconfig)
    env = {**os.environ, "KUBECONFIG": control_plane.kubeconfig, "ENVCTL_CONFIG": str(tmp_path / "envctl.yaml"),
           "PYTHONPATH": str(REPO)}  # fmt: skip
    cli = Cli(env, tmp_path / "envctl.yaml", {**KWOK_PLACEMENT, "node_selector": {"envctl.io/test-pool": pool_id}})
    cli.write_config({
        "kubernetes": {"server": {"cpu": "150m"}, "postgres": {"cpu": "150m"}},
        "warm": {"namespace": f"envctl-{pool_id}", "priority_class": f"envctl-{pool_id}", "placeholders": 1},
    })
    try:
        yield cli, admin, pool_id
    finally:
        for ns in [f"envctl-{pool_id}", *[f"envctl-{pool_id}-p{i}" for i in (1, 2)]]:
            admin.delete(NS.path(name=ns))
        admin.delete(kind("PriorityClass").path(name=f"envctl-{pool_id}"))
        remove_nodes(admin, pool_id)
        admin.close()


def warm_status(cli: Cli) -> dict[str, Any]:
    return dict(cli.json("warm", "status"))


def wait_for(what: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_preview_preempts_a_placeholder_at_once_and_without_one_waits_for_a_node(pool: tuple[Cli, Kube, str]) -> None:
    cli, admin, pool_id = pool
    warm_ns = f"envctl-{pool_id}"
    add_node(admin, f"{pool_id}-a", pool_id, cpu="400m")
    applied = cli.json("warm", "apply")
    assert applied["wanted"] == 1 and applied["requests_per_placeholder"] == {"cpu": "400m", "memory": "384Mi", "pods": 3}
    wait_for("the placeholder to hold room", lambda: warm_status(cli)["placeholders"]["ready"] == 1)
    assert warm_status(cli)["previews_startable_now"] == 1
    (placeholder,) = pods_of(admin, warm_ns)
    assert placeholder["spec"]["nodeName"] == f"{pool_id}-a" and placeholder["spec"]["priority"] < 0

    # With a placeholder holding the node: the preview's pods take its room at once.
    started = time.monotonic()
    p1 = cli.json("up", f"{pool_id}-p1", "--runtime", "kubernetes", "--chargers", "0", timeout=120)
    took = time.monotonic() - started
    assert p1["phase"] == "Ready"
    assert took < 15, f"up took {took:.1f} s with a placeholder holding room"
    pods = pods_of(admin, f"envctl-{pool_id}-p1")
    assert pods and all(p["spec"].get("nodeName") == f"{pool_id}-a" for p in pods)
    events = admin.list(kind("Event").path(warm_ns), fieldSelector="reason=Preempted")
    assert any(e["involvedObject"]["name"] == placeholder["metadata"]["name"] for e in events), events
    # The Deployment brought the placeholder back; with no room left it waits for a node.
    after = wait_for("the recreated placeholder to be Pending", lambda: [
        p for p in pods_of(admin, warm_ns) if p["metadata"]["name"] != placeholder["metadata"]["name"] and unschedulable(p)])
    assert len(after) == 1
    status = warm_status(cli)
    assert status["placeholders"] == {"wanted": 1, "ready": 0, "pending": 1, "terminating": 0}
    assert status["previews_startable_now"] == 0

    # With no placeholder holding room: the next preview's pods stay Pending until a node arrives.
    p2 = subprocess.Popen([sys.executable, "-m", "envctl", "up", f"{pool_id}-p2", "--runtime", "kubernetes",
                           "--chargers", "0", "--output", "json"], env=cli.env, cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        waiting = wait_for("p2's pods to be Pending", lambda: [
            p for p in pods_of(admin, f"envctl-{pool_id}-p2") if unschedulable(p)], timeout=60)
        time.sleep(5)  # a cloud node takes minutes; here five seconds show nothing moves by itself
        assert p2.poll() is None, "up returned while its pods had nowhere to go"
        assert all(unschedulable(p) for p in pods_of(admin, f"envctl-{pool_id}-p2")), waiting
        added = time.monotonic()
        add_node(admin, f"{pool_id}-b", pool_id, cpu="400m")
        out, err = p2.communicate(timeout=120)
        assert p2.returncode == 0, err
        assert time.monotonic() - added < 30
    finally:
        if p2.poll() is None:
            p2.kill()
    assert all(p["spec"].get("nodeName") == f"{pool_id}-b" for p in pods_of(admin, f"envctl-{pool_id}-p2"))
    # The preview went first (priority 0 over -100); the placeholder still waits for room of its own.
    assert warm_status(cli)["placeholders"]["pending"] == 1


def test_warm_apply_resizes_the_pool_and_bad_input_is_refused(pool: tuple[Cli, Kube, str]) -> None:
    cli, admin, pool_id = pool
    add_node(admin, f"{pool_id}-a", pool_id, cpu="400m")
    assert cli.json("warm", "apply", "--count", "3")["wanted"] == 3
    wait_for("one placeholder on the one node", lambda: warm_status(cli)["placeholders"]["ready"] == 1)
    status = wait_for("two placeholders waiting for nodes", lambda: (s := warm_status(cli))["placeholders"]["pending"] == 2 and s)
    assert status["previews_startable_now"] == 1 and status["nodes"] == {f"{pool_id}-a": 1}
    assert cli.json("warm", "apply", "--count", "0")["wanted"] == 0
    wait_for("the pool to empty", lambda: not pods_of(admin, f"envctl-{pool_id}"))
    bad = cli.run("warm", "apply", "--count", "-1")
    assert bad.returncode == 2 and "greater than or equal to 0" in bad.stderr
