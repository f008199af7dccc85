"""Smoke tests of the real control plane started by scripts/control-plane."""

from __future__ import annotations

import time
import uuid

import pytest

# The official client is a hard dependency: missing, the tests error.
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.utils import parse_quantity

pytestmark = pytest.mark.kubernetes


def wait_until(what, fn, timeout=60.0, interval=0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def api(control_plane):
    c = config.new_client_from_config(config_file=control_plane.kubeconfig)
    yield c
    c.close()


def test_version(api, control_plane):
    info = client.VersionApi(api).get_code()
    assert info.git_version == "v1.37.2"
    assert (info.major, info.minor) == ("1", "37")
    assert control_plane.kubernetes_version == "v1.37.2"


def test_real_node_and_tainted_fake_nodes_ready(api):
    nodes = client.CoreV1Api(api).list_node().items
    real = [n for n in nodes if (n.metadata.labels or {}).get("envctl.io/node") == "real"]
    fake = [n for n in nodes if (n.metadata.labels or {}).get("type") == "kwok"]
    assert len(real) == 1 and real[0].status.node_info.kubelet_version == "v1.37.2"
    assert real[0].status.node_info.container_runtime_version.startswith("containerd://")
    assert {c.type: c.status for c in real[0].status.conditions}["Ready"] == "True"
    assert 1 <= len(fake) <= 3
    for n in fake:
        ready = {c.type: c.status for c in n.status.conditions}
        assert ready.get("Ready") == "True", n.metadata.name
        # Only workloads that tolerate fake nodes land there; everything else really runs.
        assert [(t.key, t.effect) for t in n.spec.taints] == [("kwok.x-k8s.io/node", "NoSchedule")]
        alloc = {k: parse_quantity(v) for k, v in n.status.allocatable.items()}
        assert alloc["cpu"] >= 32
        assert alloc["memory"] >= parse_quantity("256Gi")
        assert alloc["pods"] >= 1000


def test_quota_blocks_second_replica_and_namespace_deletion(api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = f"smoke-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        core.create_namespaced_resource_quota(ns, client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="pods"),
            spec=client.V1ResourceQuotaSpec(hard={"pods": "1"})))
        # The quota admission refuses pods until the quota controller has
        # computed the quota's status.
        wait_until("quota status", lambda: (core.read_namespaced_resource_quota(
            "pods", ns).status.hard or {}).get("pods") == "1", 30)

        labels = {"app": "smoke"}
        apps.create_namespaced_deployment(ns, client.V1Deployment(
            metadata=client.V1ObjectMeta(name="smoke"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        node_selector={"type": "kwok"},
                        tolerations=[client.V1Toleration(key="kwok.x-k8s.io/node", operator="Exists",
                                                         effect="NoSchedule")],
                        containers=[client.V1Container(name="app", image="example.invalid/smoke:1")])))))

        def running_ready_pods():
            pods = core.list_namespaced_pod(ns, label_selector="app=smoke").items
            return [p for p in pods if p.status.phase == "Running" and any(
                c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]

        ready = wait_until("a Running+Ready pod", running_ready_pods, 60)
        assert len(ready) == 1
        assert ready[0].spec.node_name.startswith("kwok-node-")
        assert ready[0].status.pod_ip

        def quota_refusal():
            msgs = []
            for rs in apps.list_namespaced_replica_set(ns).items:
                for c in rs.status.conditions or []:
                    msgs.append(f"{c.type}: {c.message}")
            for ev in core.list_namespaced_event(ns).items:
                if ev.reason == "FailedCreate":
                    msgs.append(f"event: {ev.message}")
            return [m for m in msgs if "exceeded quota" in m]

        assert wait_until("quota refusal on the ReplicaSet", quota_refusal, 60)
        assert len(core.list_namespaced_pod(ns).items) == 1
        used = core.read_namespaced_resource_quota("pods", ns).status.used
        assert used.get("pods") == "1"
    finally:
        t0 = time.monotonic()
        core.delete_namespace(ns)

        def gone():
            try:
                core.read_namespace(ns)
                return False
            except ApiException as e:
                return e.status == 404
        wait_until(f"namespace {ns} to disappear", gone, 120)
        print(f"namespace {ns} deleted in {time.monotonic() - t0:.1f}s")
