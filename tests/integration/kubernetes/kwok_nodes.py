"""kwok nodes a test makes for itself: limited allocatable, a label of its own, and pod
addresses that go nowhere.

kwok hands out pod addresses from a node's podCIDR. A loopback one means the API server refuses
to proxy to the fake pods (it never dials loopback pod IPs), so nothing, not even envctl's status
probe through the pod proxy, sends a packet towards an address kwok made up (the default pool,
10.244.0.0/16, would be routed off this machine).
"""

from __future__ import annotations

import time
from typing import Any

from envctl.runtimes.kubernetes.client import Kube, kind

TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}


def kwok_node(name: str, pool: str, cpu: str) -> dict[str, Any]:
    res = {"cpu": cpu, "memory": "4Gi", "pods": "20"}
    subnet = sum(name.encode()) % 250 + 1
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"kubernetes.io/hostname": name, "type": "kwok", "envctl.io/test-pool": pool}},
        "spec": {"taints": [TAINT],
                 "podCIDR": f"127.1.{subnet}.0/24", "podCIDRs": [f"127.1.{subnet}.0/24"]},
        "status": {"allocatable": res, "capacity": res},
    }  # fmt: skip


def add_node(admin: Kube, name: str, pool: str, cpu: str) -> None:
    admin.create(kwok_node(name, pool, cpu))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        node = admin.get(kind("Node").path(name=name))
        if any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions") or []):
            return
        time.sleep(0.1)
    raise AssertionError(f"kwok never made node {name} Ready")


def remove_nodes(admin: Kube, pool: str) -> None:
    for n in admin.list(kind("Node").path(), labelSelector=f"envctl.io/test-pool={pool}"):
        admin.delete(kind("Node").path(name=n["metadata"]["name"]))
