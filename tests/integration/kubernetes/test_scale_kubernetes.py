"""`envctl scale` on the Kubernetes runtime, against the real control plane (pods on kwok nodes:
this is about the Deployment and its pods as API objects; the preStop drain is the real node's)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from envctl.release.fleets.kubernetes import KubernetesFleet
from envctl.runtimes.kubernetes.client import Kube, kind
from envctl.runtimes.kubernetes.state import server_deployment
from tests.integration.kubernetes.helpers import KWOK_PLACEMENT, NS, REPO, Cli, unique
from tests.integration.kubernetes.kwok_nodes import add_node, remove_nodes

pytestmark = pytest.mark.kubernetes


def test_scale_up_then_down_one_pod_at_a_time(control_plane: Any, tmp_path: Path) -> None:
    env = {**os.environ, "KUBECONFIG": control_plane.kubeconfig, "ENVCTL_CONFIG": str(tmp_path / "envctl.yaml"),
           "PYTHONPATH": str(REPO)}  # fmt: skip
    name = unique("scale")
    cli = Cli(env, tmp_path / "envctl.yaml", {**KWOK_PLACEMENT, "node_selector": {"envctl.io/test-pool": name}})
    cli.write_config({})
    admin = Kube(control_plane.kubeconfig)
    add_node(admin, f"{name}-node", name, cpu="8")
    namespace = f"envctl-{name}"
    deployment = kind("Deployment").path(namespace, server_deployment("v1"))  # one Deployment per version
    try:
        cli.json("up", name, "--runtime", "kubernetes", "--replicas", "2", "--chargers", "0")
        generation = int(admin.get(deployment)["metadata"]["generation"])

        up = cli.json("scale", name, "--replicas", "4", "--runtime", "kubernetes")
        assert (up["replicas_before"], up["replicas"], len(up["started"])) == (2, 4, 2)
        d = admin.get(deployment)
        assert d["spec"]["replicas"] == 4 and d["status"]["readyReplicas"] == 4
        assert int(d["metadata"]["generation"]) == generation + 1  # one change
        ns = admin.get(NS.path(name=namespace))
        assert ns["metadata"]["annotations"]["envctl.io/replicas"] == "4"
        assert len(cli.json("status", name, "--runtime", "kubernetes")["servers"]) == 4

        down = cli.json("scale", name, "--replicas", "1", "--runtime", "kubernetes")
        assert (down["replicas_before"], down["replicas"], len(down["retired"])) == (4, 1, 3)
        d = admin.get(deployment)
        # 4 -> 3 -> 2 -> 1, each step waiting until the removed pod (and its drain) is gone
        assert d["spec"]["replicas"] == 1 and int(d["metadata"]["generation"]) == generation + 1 + 3
        assert "one pod at a time" in down["note"]
        pods = admin.list(kind("Pod").path(namespace), labelSelector="app.kubernetes.io/name=charger-server")
        assert len(pods) == 1 and pods[0]["metadata"]["name"] not in down["retired"]

        # A second version running (what a release in progress looks like): scaling is refused.
        fleet = KubernetesFleet(admin, namespace)
        fleet.start("v2", 1)
        mid = cli.run("scale", name, "--replicas", "3", "--runtime", "kubernetes", "--output", "json")
        assert mid.returncode == 4 and "a release is moving chargers" in mid.stderr, mid.stderr
        assert admin.get(deployment)["spec"]["replicas"] == 1

        missing = cli.run("scale", "nope-" + name, "--replicas", "2", "--runtime", "kubernetes", "--output", "json")
        assert missing.returncode == 3 and "no Kubernetes environment named" in missing.stderr
    finally:
        admin.delete(NS.path(name=namespace))
        remove_nodes(admin, name)
        admin.close()
