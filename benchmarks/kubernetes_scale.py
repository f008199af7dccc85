"""`envctl list` and `envctl gc` over many environments (default 500; goal <= 5 s each).

The environments are namespaces with envctl's labels and annotations, created through the API
(cheap: no pods), half of them expired. Each charger-server Deployment would add one item to
the single cluster-wide Deployment list that `list` reads; --with-deployments adds those too.

    python -m benchmarks.kubernetes_scale --envs 500 --report benchmarks/results/kubernetes_scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from benchmarks.harness.kubernetes import envctl, kubeconfig, write
from benchmarks.report import summary
from envctl.config import parse_config
from envctl.envs.model import utcnow
from envctl.envs.ttl import format_time
from envctl.runtimes.kubernetes import KubernetesRuntime
from envctl.runtimes.kubernetes.client import Kube, kind

GOAL_S = 5.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--envs", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--with-deployments", action="store_true")
    ap.add_argument("--report", default="benchmarks/results/kubernetes_scale.json")
    args = ap.parse_args()
    kc = kubeconfig()
    kube = Kube(kc)
    cfg_file = Path(tempfile.mkdtemp(prefix="envctl-bench-")) / "envctl.yaml"
    cfg_file.write_text("envs: {max_environments: 100000, max_per_owner: 100000}\n")
    env = {**os.environ, "KUBECONFIG": kc, "ENVCTL_CONFIG": str(cfg_file)}
    run = uuid.uuid4().hex[:5]
    now = utcnow()

    def create(i: int) -> None:
        name = f"scale-{run}-{i}"
        expired = i % 2 == 0
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": f"envctl-{name}",
            "labels": {"app.kubernetes.io/managed-by": "envctl", "envctl.io/environment": name,
                       "envctl.io/owner": f"dev{i % 17}", "envctl.io/pr": str(1000 + i), "bench": run},
            "annotations": {"envctl.io/expires-at": format_time(now + timedelta(hours=-1 if expired else 8)),
                            "envctl.io/owner": f"dev{i % 17}", "envctl.io/chargers": "10"}}})
        if args.with_deployments:
            kube.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
                "name": "charger-server", "namespace": f"envctl-{name}",
                "labels": {"app.kubernetes.io/managed-by": "envctl", "envctl.io/environment": name}},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "x"}},
                         "template": {"metadata": {"labels": {"app": "x"}},
                                      "spec": {"containers": [{"name": "c", "image": "x"}]}}}})

    t = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(args.envs)))
    setup_s = time.monotonic() - t

    try:
        list_s, listed = [], 0
        for _ in range(args.runs):
            t = time.monotonic()
            p = envctl(env, "list", "--runtime", "kubernetes", "--output", "json")
            list_s.append(time.monotonic() - t)
            assert p.returncode == 0, p.stderr
            listed = sum(1 for e in json.loads(p.stdout) if e["name"].startswith(f"scale-{run}-"))
        assert listed == args.envs, listed

        # The same work without process start-up and imports (the CLI's share under load).
        rt = KubernetesRuntime(config=parse_config({}), kubeconfig=kc)
        api_list_s, api_gc_s = [], []
        for _ in range(args.runs):
            t = time.monotonic()
            rt.list()
            api_list_s.append(time.monotonic() - t)
            t = time.monotonic()
            rt.gc(dry_run=True)
            api_gc_s.append(time.monotonic() - t)

        dry_s = []
        for _ in range(args.runs):
            t = time.monotonic()
            p = envctl(env, "gc", "--dry-run", "--runtime", "kubernetes", "--output", "json")
            dry_s.append(time.monotonic() - t)
            assert p.returncode == 0, p.stderr

        t = time.monotonic()
        p = envctl(env, "gc", "--runtime", "kubernetes", "--output", "json")
        gc_s = time.monotonic() - t
        assert p.returncode == 0, p.stderr
        deleted = sum(1 for n in json.loads(p.stdout)["expired"] if n.startswith(f"scale-{run}-"))
        assert deleted == (args.envs + 1) // 2, deleted
    finally:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: kube.delete(kind("Namespace").path(name=f"envctl-scale-{run}-{i}")),
                          range(args.envs)))

    write(Path(args.report), {
        "benchmark": "kubernetes_scale",
        "environments": args.envs,
        "with_deployments": args.with_deployments,
        "goal_s": GOAL_S,
        "setup_create_namespaces_s": round(setup_s, 3),
        "cli_list": summary(list_s),
        "cli_gc_dry_run": summary(dry_s),
        "cli_gc_delete": {"s": round(gc_s, 3), "deleted": deleted},
        "runtime_list": summary(api_list_s),
        "runtime_gc_dry_run": summary(api_gc_s),
        "meets_goal": statistics.median(list_s) <= GOAL_S and gc_s <= GOAL_S,
    })


if __name__ == "__main__":
    main()
