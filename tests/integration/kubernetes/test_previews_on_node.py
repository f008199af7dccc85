"""Previews whose pods really run: the real node (containerd, kubelet, kube-proxy, CoreDNS).

Everything goes through the same runtime code users run (`envctl` as a subprocess), with the
images scripts/control-plane built and imported. What these tests see only a real node can show:
probes that pass, a Service that routes, names that resolve, stats through the API server's pod
proxy, container logs, a pod deleted under traffic, a CronJob that runs.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from envctl.bench.transactions import count as count_transactions
from envctl.envs.model import utcnow
from envctl.envs.ttl import format_time, parse_time
from envctl.runtimes.kubernetes import render as r
from envctl.runtimes.kubernetes.client import Kube, kind
from tests.integration.kubernetes.helpers import (
    KWOK_PLACEMENT, NS, REPO, Cli, database_url, ledger_from_simulator, objects_in, pods, ready, real_placement, unique,
    wait_until,
)

pytestmark = pytest.mark.kubernetes

POD = kind("Pod")


@pytest.fixture
def admin(control_plane: Any) -> Iterator[Kube]:
    kube = Kube(control_plane.kubeconfig)
    yield kube
    kube.close()


@pytest.fixture
def cli(control_plane: Any, tmp_path: Path) -> Cli:
    env = {**os.environ, "KUBECONFIG": control_plane.kubeconfig, "ENVCTL_CONFIG": str(tmp_path / "envctl.yaml"),
           "PYTHONPATH": str(REPO), "KUBECTL": control_plane.kubectl}
    c = Cli(env, tmp_path / "envctl.yaml", real_placement(control_plane))
    c.write_config({})
    return c


@pytest.fixture
def cleanup(cli: Cli) -> Iterator[list[str]]:
    """Environments to take down after the test (pods first, so the node is free for the next)."""
    names: list[str] = []
    yield names
    for name in names:
        cli.run("down", name, "--runtime", "kubernetes")


# ---------------------------------------------------------------------------------------------


def test_the_node_leaves_the_hosts_kernel_settings_alone(control_plane: Any) -> None:
    before = json.loads((control_plane.run_dir / "node-host-before.json").read_text())["sysctl"]
    for key in ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops"):
        now = Path("/proc/sys", *key.split(".")).read_text().strip()
        assert now == before[key], f"{key} changed from {before[key]} to {now} while the node runs"


def test_up_for_a_pr_runs_every_pod_and_connects_every_charger(cli: Cli, admin: Kube, cleanup: list[str]) -> None:
    pr = str(40000 + uuid.uuid4().int % 10000)
    name = f"pr-{pr}"
    cleanup.append(name)
    cli.write_config({"kubernetes": {"ingress": {"enabled": True, "domain": "preview.example.com"}}})

    status = cli.json("up", name, "--pr", pr, "--runtime", "kubernetes", "--chargers", "5", "--replicas", "2")

    assert status["phase"] == "Ready" and status["runtime"] == "kubernetes"
    assert status["chargers"] == {"target": 5, "connected": 5}  # counted by the servers, through the pod proxy
    assert [s["ready"] for s in status["servers"]] == [True, True]
    assert sum(s["connections"] for s in status["servers"]) == 5 and not status.get("message")
    assert status["endpoints"]["ocpp_public"] == f"ws://pr-{pr}.preview.example.com/ocpp"

    ns = admin.get(NS.path(name=f"envctl-{name}"))
    labels, ann = ns["metadata"]["labels"], ns["metadata"]["annotations"]
    assert labels["app.kubernetes.io/managed-by"] == "envctl" and labels["envctl.io/pr"] == pr
    expires = parse_time(ann["envctl.io/expires-at"])
    assert expires is not None and timedelta(hours=7) < expires - utcnow() <= timedelta(hours=8)
    assert objects_in(admin, f"envctl-{name}") == {
        ("ResourceQuota", "envctl-quota"), ("LimitRange", "envctl-limits"), ("NetworkPolicy", "envctl-isolation"),
        ("ServiceAccount", "charger"), ("Secret", "envctl-credentials"), ("Secret", "envctl-basic-auth"),
        ("ConfigMap", "envctl-config"), ("Service", "charger-server"), ("Deployment", "charger-server-v1"),
        ("Deployment", "charger-simulator"), ("Ingress", "charger-server"), ("RoleBinding", "envctl"),
        ("Service", "postgres"), ("StatefulSet", "postgres"),
    }
    every_pod = admin.list(POD.path(f"envctl-{name}"))
    assert len(every_pod) == 4  # two servers, the simulator, Postgres
    for p in every_pod:
        assert p["spec"]["nodeName"] == "envctl-node" and ready(p), p["metadata"]["name"]
        # Readiness and liveness probes reached the admin API on the pod's address.
        assert all(c["restartCount"] == 0 for c in p["status"]["containerStatuses"]), p["status"]
    assert cli.json("status", name, "--runtime", "kubernetes")["chargers"]["connected"] == 5

    logs = cli.run("logs", name, "--runtime", "kubernetes")
    assert logs.returncode == 0, logs.stderr
    assert '"event":"ready"' in logs.stdout, logs.stdout[-2000:]  # the server's ready line


def test_two_replicas_200_chargers_through_the_service(cli: Cli, admin: Kube, cleanup: list[str]) -> None:
    name = unique("fleet")
    cleanup.append(name)
    t0 = time.monotonic()
    status = cli.json("up", name, "--runtime", "kubernetes", "--chargers", "200", "--replicas", "2")
    took = time.monotonic() - t0
    assert status["chargers"] == {"target": 200, "connected": 200}, status
    per_server = [s["connections"] for s in status["servers"]]
    assert len(per_server) == 2 and sum(per_server) == 200
    assert min(per_server) > 0, f"the Service sent every charger to one replica: {per_server}"
    print(f"envctl up --runtime kubernetes, 2 replicas, 200 chargers: {took:.1f} s")


def test_deleting_a_server_pod_under_traffic_loses_nothing_acknowledged(
    control_plane: Any, cli: Cli, admin: Kube, cleanup: list[str], tmp_path: Path
) -> None:
    name = unique("crash")
    ns = f"envctl-{name}"
    cleanup.append(name)
    # Sessions often and meter values every few seconds: plenty of transaction messages in flight.
    cli.json("up", name, "--runtime", "kubernetes", "--chargers", "100", "--replicas", "2",
             "--session-rate", "600", "--session-minutes", "0.1-0.3", "--meter-interval", "2")
    time.sleep(5)
    victim = pods(admin, ns, "charger-server")[0]["metadata"]["name"]
    admin.delete(POD.path(ns, victim))  # the preStop hook drains it, then SIGTERM

    def back_on_two_servers() -> bool:
        st = cli.json("status", name, "--runtime", "kubernetes")
        alive = [s for s in st["servers"] if s["id"] != victim]
        return st["chargers"]["connected"] == 100 and len(alive) == 2 and all(s["ready"] for s in alive)
    wait_until("every charger reconnected and a new server pod", back_on_two_servers, 120, every=1)
    time.sleep(5)  # let sessions that straddled the move finish on the new replicas

    ledger_from_simulator(cli, admin, ns, tmp_path / "ledger")
    tx = count_transactions(str(tmp_path / "ledger"), database_url(admin, ns))
    assert tx["acknowledged"] > 20, tx  # the test really had transactions to lose
    assert tx["lost"] == 0 and tx.get("stops_lost", 0) == 0 and tx.get("meter_values_lost", 0) == 0, tx


def test_image_pull_failure_is_explained_with_the_nodes_events(cli: Cli, cleanup: list[str]) -> None:
    name = unique("pull")
    cleanup.append(name)
    cli.write_config({"kubernetes": {"image_pull_policy": "IfNotPresent", "ready_timeout": "90s"}})
    image = f"127.0.0.1:1/envctl:nope-{uuid.uuid4().hex[:6]}"  # a registry that refuses at once
    p = cli.run("up", name, "--runtime", "kubernetes", "--chargers", "1", "--image", image)
    assert p.returncode == 1, p.stderr
    err = " ".join(p.stderr.split())
    assert "did not become ready" in err and ("ImagePullBackOff" in err or "ErrImagePull" in err), err
    assert f'Failed to pull image "{image}"' in err  # the kubelet's own event
    assert "check --image" in err


def test_down_by_pr_and_a_namespace_name_says_which_environment(cli: Cli, admin: Kube) -> None:
    pr = str(30000 + uuid.uuid4().int % 10000)
    cli.json("up", "--pr", pr, "--runtime", "kubernetes", "--chargers", "1")
    wrong = cli.run("down", f"envctl-pr-{pr}", "--runtime", "kubernetes")
    assert wrong.returncode == 3
    assert f"run `envctl down pr-{pr}`" in " ".join(wrong.stderr.split())
    assert cli.json("down", "--pr", pr, "--runtime", "kubernetes")["removed"] is True
    assert admin.get_or_none(NS.path(name=f"envctl-pr-{pr}")) is None  # pods stopped, namespace gone
    assert cli.json("down", "--pr", pr, "--runtime", "kubernetes")["removed"] is False


def test_on_fake_nodes_up_fails_saying_the_chargers_never_connected(cli: Cli, cleanup: list[str]) -> None:
    name = unique("fake")
    cleanup.append(name)
    cli.kubernetes = KWOK_PLACEMENT
    cli.write_config({})
    p = cli.run("up", name, "--runtime", "kubernetes", "--chargers", "2", "--timeout", "15")
    assert p.returncode != 0
    err = " ".join(p.stderr.split())
    assert "only 0 of 2 chargers connected" in err and "pod proxy" in err, err


def test_gc_cronjob_removes_an_expired_preview_with_nobody_running_it(
    control_plane: Any, cli: Cli, admin: Kube
) -> None:
    name = unique("expire")
    cli.json("up", name, "--runtime", "kubernetes", "--chargers", "0", "--ttl", "1h")
    ns = f"envctl-{name}"
    admin.merge_patch(NS.path(name=ns), {"metadata": {"annotations": {
        "envctl.io/expires-at": format_time(utcnow() - timedelta(minutes=1))}}})
    setup = r.RbacValues(image=control_plane.images["envctl"], gc_schedule="* * * * *")
    objects = r.render_rbac(r.PACKAGED_TEMPLATES, setup)
    try:
        for obj in objects:
            admin.apply(obj)
        # The CronJob's pod runs `envctl gc` as its own least-privilege ServiceAccount, reaching the
        # API server through the kubernetes Service, within a minute or so.
        wait_until(f"the gc CronJob to delete {ns}", lambda: admin.get_or_none(NS.path(name=ns)) is None, 150, every=2)
        jobs = admin.list(kind("Job").path(setup.namespace), labelSelector="app.kubernetes.io/managed-by=envctl")
        assert any(j["status"].get("succeeded") for j in jobs), [j["status"] for j in jobs]
    finally:
        admin.delete(kind("CronJob").path(setup.namespace, setup.gc_name))
        cli.run("down", name, "--runtime", "kubernetes")
