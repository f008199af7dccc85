"""`envctl up` to Ready on the real control plane (kwok nodes make pods Ready at once).

Goal: <= 5 s from command to Ready. Measures the whole CLI (process start included) and the
runtime call alone, for fresh environments and for converging an existing one, plus `down`.

    python -m benchmarks.kubernetes_up --runs 5 --report benchmarks/results/kubernetes_up.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.harness.kubernetes import envctl, kubeconfig, timed_up, write
from benchmarks.report import summary
from envctl.config import parse_config
from envctl.envs.model import EnvSpec
from envctl.runtimes.kubernetes import KubernetesRuntime

GOAL_S = 5.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--chargers", type=int, default=10)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--report", default="benchmarks/results/kubernetes_up.json")
    args = ap.parse_args()
    kc = kubeconfig()
    cfg_file = Path(tempfile.mkdtemp(prefix="envctl-bench-")) / "envctl.yaml"
    cfg_file.write_text("envs: {max_environments: 10000, max_per_owner: 10000}\n")
    env = {**os.environ, "KUBECONFIG": kc, "ENVCTL_CONFIG": str(cfg_file)}
    run = uuid.uuid4().hex[:5]

    cli_fresh, cli_converge, cli_down, api_fresh = [], [], [], []
    for i in range(args.runs):
        name = f"bench-{run}-{i}"
        seconds, doc = timed_up(env, name, args.chargers, args.replicas)
        cli_fresh.append(seconds)
        if doc["phase"] != "Ready":
            sys.exit(f"up {name} is {doc['phase']}, not Ready")
        cli_converge.append(timed_up(env, name, args.chargers, args.replicas)[0])
        t = time.monotonic()
        envctl(env, "down", name, "--runtime", "kubernetes")
        cli_down.append(time.monotonic() - t)

    rt = KubernetesRuntime(config=parse_config({"envs": {"max_environments": 10000, "max_per_owner": 10000}}),
                           kubeconfig=kc)
    for i in range(args.runs):
        name = f"bench-{run}-api-{i}"
        t = time.monotonic()
        status = rt.up(EnvSpec(name=name, runtime="kubernetes", chargers=args.chargers, replicas=args.replicas))
        api_fresh.append(time.monotonic() - t)
        assert status.phase == "Ready"
        rt.down(name, wait=False)

    write(Path(args.report), {
        "benchmark": "kubernetes_up",
        "goal_s": GOAL_S,
        "chargers": args.chargers,
        "replicas": args.replicas,
        "cli_up_fresh": summary(cli_fresh),
        "cli_up_converge": summary(cli_converge),
        "cli_down": summary(cli_down),
        "runtime_up_fresh": summary(api_fresh),
        "meets_goal": statistics.median(cli_fresh) <= GOAL_S,
    })


if __name__ == "__main__":
    main()
