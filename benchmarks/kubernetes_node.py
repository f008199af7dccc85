"""Previews on the real node: `envctl up --runtime kubernetes` until every charger is connected,
and the largest preview this machine holds (chargers connected, memory per charger in a container).

    python -m benchmarks.kubernetes_node up --runs 5 --chargers 200 --replicas 2
    python -m benchmarks.kubernetes_node largest --chargers 20000 --replicas 2

Goal (up, 2 replicas, 200 chargers, images cached on the node): <= 15 s. Uses the images the
test cluster imported (scripts/control-plane start); the machine is shared, the load is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness.kubernetes import REPO, envctl, kubeconfig, timed_up, write
from benchmarks.report import summary
from envctl.runtimes.kubernetes.client import Kube, kind

GOAL_S = 15.0


def cluster_images() -> dict[str, str]:
    state = json.loads((Path(kubeconfig()).parent / "state.json").read_text())
    return dict(state["images"])


def config(extra: dict[str, Any]) -> dict[str, str]:
    images = cluster_images()
    cfg = {"envs": {"max_environments": 1000, "max_per_owner": 1000},
           "kubernetes": {"image": images["envctl"], "image_pull_policy": "Never",
                          "database": {"postgres_image": images["postgres"]}, **extra}}
    path = Path(tempfile.mkdtemp(prefix="envctl-bench-")) / "envctl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return {**os.environ, "KUBECONFIG": kubeconfig(), "ENVCTL_CONFIG": str(path)}


def bench_up(args: argparse.Namespace) -> dict[str, Any]:
    env = config({})
    run = uuid.uuid4().hex[:5]
    took, downs = [], []
    for i in range(args.runs):
        name = f"nodeup-{run}-{i}"
        seconds, doc = timed_up(env, name, args.chargers, args.replicas)
        took.append(seconds)
        assert doc["chargers"]["connected"] == args.chargers, doc
        t = time.monotonic()
        envctl(env, "down", name, "--runtime", "kubernetes")
        downs.append(time.monotonic() - t)
    return {"benchmark": "envctl up --runtime kubernetes (real node), to every charger connected",
            "chargers": args.chargers, "replicas": args.replicas, "up": summary(took), "down": summary(downs),
            "goal_s": GOAL_S, "goal_met": sorted(took)[len(took) // 2] <= GOAL_S}


def _memory_bytes(kube: Kube, namespace: str, pod: str, container: str) -> int:
    """The container's own cgroup (v1 here), read inside it."""
    raw = kube.exec(namespace, pod, container, ["cat", "/sys/fs/cgroup/memory/memory.usage_in_bytes"])
    return int(raw.strip())


def bench_largest(args: argparse.Namespace) -> dict[str, Any]:
    # Room for a large fleet: the defaults suit a preview of a few hundred chargers.
    big = {"cpu": "200m", "memory": "256Mi", "cpu_limit": "2", "memory_limit": "2Gi"}
    env = config({"server": big, "simulator": big, "quota": {"cpu": "8", "memory": "12Gi", "cpu_limit": "16",
                                                             "memory_limit": "16Gi"},
                  "limits": {"max_cpu": "2", "max_memory": "2Gi"}})
    name = f"largest-{uuid.uuid4().hex[:5]}"
    t = time.monotonic()
    p = envctl(env, "up", name, "--runtime", "kubernetes", "--chargers", str(args.chargers), "--replicas",
               str(args.replicas), "--heartbeat-interval", "300", "--timeout", "900", "--output", "json")
    took = time.monotonic() - t
    if p.returncode != 0:
        sys.exit(f"up failed after {took:.0f} s: {p.stderr}")
    doc = json.loads(p.stdout)
    time.sleep(10)  # steady state
    kube = Kube(env["KUBECONFIG"])
    namespace = f"envctl-{name}"
    pods = kube.list(kind("Pod").path(namespace))
    memory: dict[str, int] = {}
    for pod in pods:
        app = pod["metadata"]["labels"].get("app.kubernetes.io/name")
        container = {"charger-server": "server", "charger-simulator": "simulator"}.get(app or "")
        if container:
            memory[pod["metadata"]["name"]] = _memory_bytes(kube, namespace, pod["metadata"]["name"], container)
    sim = sum(v for k, v in memory.items() if k.startswith("charger-simulator"))
    servers = sum(v for k, v in memory.items() if k.startswith("charger-server"))
    connected = int(doc["chargers"]["connected"])
    envctl(env, "down", name, "--runtime", "kubernetes")
    return {"benchmark": "largest preview on the real node", "chargers": args.chargers,
            "replicas": args.replicas, "connected": connected, "up_s": round(took, 1),
            "memory_bytes": memory,
            "simulator_kb_per_charger": round(sim / 1024 / connected, 1),
            "server_kb_per_connection": round(servers / 1024 / connected, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["up", "largest"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--chargers", type=int, default=200)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--report")
    args = ap.parse_args()
    data = bench_up(args) if args.what == "up" else bench_largest(args)
    default = f"benchmarks/results/kubernetes_node_{args.what}{'' if args.what == 'up' else '_' + str(args.chargers)}.json"
    write(REPO / (args.report or default), data)


if __name__ == "__main__":
    main()
