"""`envctl up` to Ready on the real control plane (kwok nodes make pods Ready at once).

Goal: <= 5 s from command to Ready. Measures the whole CLI (process start included) and the
runtime call alone, for fresh environments and for converging an existing one, plus `down`.

    python benchmarks/kubernetes_up.py --runs 5 --report benchmarks/results/kubernetes_up.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.kubernetes_common import envctl, kubeconfig, summary, write  # noqa: E402
from envctl.config import parse_config  # noqa: E402
from envctl.envs.model import EnvSpec  # noqa: E402
from envctl.runtimes.kubernetes import KubernetesRuntime  # noqa: E402

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
        t = time.monotonic()
        p = envctl(env, "up", name, "--runtime", "kubernetes", "--chargers", str(args.chargers),
                   "--replicas", str(args.replicas), "--output", "json")
        cli_fresh.append(time.monotonic() - t)
        if p.returncode != 0 or json.loads(p.stdout)["phase"] != "Ready":
            sys.exit(f"up failed: {p.stderr}")
        t = time.monotonic()
        p = envctl(env, "up", name, "--runtime", "kubernetes", "--chargers", str(args.chargers),
                   "--replicas", str(args.replicas), "--output", "json")
        cli_converge.append(time.monotonic() - t)
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
