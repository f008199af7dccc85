"""Warm capacity: from `envctl up --runtime kubernetes` to all the preview's pods scheduled, with a
placeholder holding room and without one (then a new node, arriving --node-delay seconds after the
pods went Pending, stands in for a cloud node boot).

    KUBECONFIG=... python -m benchmarks.warm_pool --runs 5 --node-delay 60 --report benchmarks/results/warm_pool.json

Nodes are kwok nodes with room for exactly one preview (or one placeholder), a label of their own
(previews and placeholders are pinned to them) and a loopback pod CIDR (nothing dials the fake pods).
The real kube-scheduler places and preempts. With a placeholder, the benchmark also plays the
cluster autoscaler for the pool: the preempted placeholder's replacement goes Pending, a node is
added after the same delay, and the time until the pool holds room again is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness.kubernetes import REPO, kubeconfig, write
from benchmarks.report import summary
from envctl.runtimes.kubernetes.client import Kube, kind

TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}


class Pool:
    def __init__(self, kube: Kube, pool: str) -> None:
        self.kube, self.pool, self.count = kube, pool, 0

    def add_node(self, cpu: str = "400m") -> str:
        self.count += 1
        name = f"{self.pool}-{self.count}"
        res = {"cpu": cpu, "memory": "4Gi", "pods": "20"}
        cidr = f"127.2.{self.count}.0/24"
        self.kube.create({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"kubernetes.io/hostname": name, "type": "kwok", "envctl.io/test-pool": self.pool}},
            "spec": {"taints": [TAINT], "podCIDR": cidr, "podCIDRs": [cidr]},
            "status": {"allocatable": res, "capacity": res},
        })  # fmt: skip
        return name

    def add_node_after(self, delay_s: float) -> threading.Thread:
        t = threading.Thread(target=lambda: (time.sleep(delay_s), self.add_node()), daemon=True)
        t.start()
        return t

    def remove(self) -> None:
        for n in self.kube.list(kind("Node").path(), labelSelector=f"envctl.io/test-pool={self.pool}"):
            self.kube.delete(kind("Node").path(name=n["metadata"]["name"]))


def pods(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    return [p for p in kube.list(kind("Pod").path(namespace)) if not p["metadata"].get("deletionTimestamp")]


def wait(what: str, check: Any, timeout: float = 600, every: float = 0.05) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every)
    return time.time()


def pending(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "PodScheduled" and c["status"] == "False" for c in pod.get("status", {}).get("conditions") or [])


def run_once(kube: Kube, env: dict[str, str], pool: Pool, name: str, warm_ns: str, with_placeholder: bool,
             delay_s: float) -> dict[str, Any]:  # fmt: skip
    namespace = f"envctl-{name}"
    t0 = time.time()
    up = subprocess.Popen([sys.executable, "-m", "envctl", "up", name, "--runtime", "kubernetes", "--chargers", "0",
                           "--output", "json"], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    out: dict[str, Any] = {"with_placeholder": with_placeholder}
    created = wait("the preview's pods", lambda: pods(kube, namespace), every=0.02)
    out["pods_created_s"] = round(created - t0, 3)  # envctl up's own work: namespace, manifests
    if not with_placeholder:
        # The cluster autoscaler's cue: the preview's pods are Pending; the node boots for delay_s.
        went_pending = wait("pods Pending", lambda: any(pending(p) for p in pods(kube, namespace)))
        out["pending_after_s"] = round(went_pending - t0, 3)
        pool.add_node_after(delay_s)
    scheduled = wait("all pods scheduled", lambda: (ps := pods(kube, namespace)) and len(ps) >= 2
                     and all(p["spec"].get("nodeName") for p in ps))  # fmt: skip
    out["scheduled_s"] = round(scheduled - t0, 3)
    out["created_to_scheduled_s"] = round(scheduled - created, 3)
    _, err = up.communicate(timeout=600)
    if up.returncode != 0:
        raise SystemExit(f"envctl up failed: {err}")
    out["up_returned_s"] = round(time.time() - t0, 3)
    if with_placeholder:
        # The placeholder's replacement is Pending: the autoscaler adds a node for it.
        went_pending = wait("the replacement placeholder Pending", lambda: any(pending(p) for p in pods(kube, warm_ns)))
        pool.add_node_after(delay_s)
        refilled = wait("the pool to hold room again", lambda: (ps := pods(kube, warm_ns)) and all(
            p["spec"].get("nodeName") for p in ps))  # fmt: skip
        out["pool_refilled_after_s"] = round(refilled - went_pending, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--node-delay", type=float, default=60.0, help="seconds a new node takes to arrive")
    ap.add_argument("--report", type=Path, default=Path("benchmarks/results/warm_pool.json"))
    args = ap.parse_args()

    kc = kubeconfig()
    kube = Kube(kc)
    pool_id = f"warmbench-{uuid.uuid4().hex[:6]}"
    warm_ns = f"envctl-{pool_id}"
    tmp = Path(tempfile.mkdtemp(prefix="envctl-warm-bench-"))
    config = tmp / "envctl.yaml"
    config.write_text(yaml.safe_dump({
        "envs": {"max_environments": 5000, "max_per_owner": 5000},
        "kubernetes": {"node_selector": {"envctl.io/test-pool": pool_id}, "tolerations": [{**TAINT, "operator": "Equal"}],
                       "server": {"cpu": "150m"}, "postgres": {"cpu": "150m"}},
        "warm": {"namespace": warm_ns, "priority_class": f"envctl-{pool_id}", "placeholders": 0},
    }))  # fmt: skip
    env = {**os.environ, "KUBECONFIG": kc, "ENVCTL_CONFIG": str(config), "PYTHONPATH": str(REPO)}
    pool = Pool(kube, pool_id)
    runs: list[dict[str, Any]] = []
    names: list[str] = []
    try:
        for i in range(args.runs):
            # Without: the pool is empty and there is no spare node; the preview waits for one.
            names.append(f"{pool_id}-n{i}")
            runs.append(run_once(kube, env, pool, names[-1], warm_ns, False, args.node_delay))
            print(runs[-1], flush=True)
            # With: one spare node, held by a placeholder.
            pool.add_node()
            subprocess.run([sys.executable, "-m", "envctl", "warm", "apply", "--count", "1"], env=env, cwd=REPO,
                           check=True, capture_output=True)  # fmt: skip
            wait("the placeholder to hold room", lambda: (ps := pods(kube, warm_ns)) and all(p["spec"].get("nodeName") for p in ps))
            names.append(f"{pool_id}-w{i}")
            runs.append(run_once(kube, env, pool, names[-1], warm_ns, True, args.node_delay))
            print(runs[-1], flush=True)
            # The next round starts from an empty cluster.
            subprocess.run([sys.executable, "-m", "envctl", "warm", "apply", "--count", "0"], env=env, cwd=REPO,
                           check=True, capture_output=True)  # fmt: skip
            for n in names:
                kube.delete(kind("Namespace").path(name=f"envctl-{n}"))
            names.clear()
            wait("the pool to empty", lambda: not pods(kube, warm_ns))
            pool.remove()
            wait("nodes gone", lambda: not kube.list(kind("Node").path(), labelSelector=f"envctl.io/test-pool={pool_id}"))
            pool.count = (i + 1) * 10  # fresh node names and pod CIDRs
    finally:
        for n in names:
            kube.delete(kind("Namespace").path(name=f"envctl-{n}"))
        kube.delete(kind("Namespace").path(name=warm_ns))
        kube.delete(kind("PriorityClass").path(name=f"envctl-{pool_id}"))
        pool.remove()
    with_ = [r["scheduled_s"] for r in runs if r["with_placeholder"]]
    without = [r["scheduled_s"] for r in runs if not r["with_placeholder"]]
    write(args.report, {
        "benchmark": "warm_pool",
        "node_delay_s": args.node_delay,
        "with_placeholder": {"up_to_scheduled": summary(with_),
                             "created_to_scheduled": summary([r["created_to_scheduled_s"] for r in runs if r["with_placeholder"]]),
                             "up_returned": summary([r["up_returned_s"] for r in runs if r["with_placeholder"]]),
                             "pool_refilled_after_pending": summary([r["pool_refilled_after_s"] for r in runs if r["with_placeholder"]])},
        "without_placeholder": {"up_to_scheduled": summary(without),
                                "created_to_scheduled": summary([r["created_to_scheduled_s"] for r in runs if not r["with_placeholder"]]),
                                "up_returned": summary([r["up_returned_s"] for r in runs if not r["with_placeholder"]])},
        "speedup_median": round(statistics.median(without) / max(statistics.median(with_), 1e-3), 1),
        "runs": runs,
        "note": "kwok nodes (the real kube-scheduler places and preempts; nothing runs in the pods); "
                "a node created --node-delay s after pods went Pending stands in for a cloud node boot",
    })  # fmt: skip


if __name__ == "__main__":
    main()
