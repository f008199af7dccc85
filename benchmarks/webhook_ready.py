"""Delivery -> environment Ready: a writer's `/preview up --chargers N` through a real
`envctl webhook serve`, timed until GitHub (the fake API) has the deployment's success status
(envctl posts it once the runtime reports Ready); then `pull_request closed` until the deployment
is inactive (after the environment is gone).

--runtime local: real processes. --runtime kubernetes: the real control plane ($KUBECONFIG, else
the one scripts/control-plane runs, started if needed); kwok makes pods Ready, so Ready means
every Deployment of the namespace is ready. Goal there: <= 10 s from delivery to Ready.

    python -m benchmarks.webhook_ready --runs 3 --chargers 5 --report benchmarks/results/webhook_ready.json
    python -m benchmarks.webhook_ready --runtime kubernetes --runs 5 \
        --report benchmarks/results/webhook_ready_kubernetes.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness.webhook import PATH, REPO, FakeGitHub, Serve, signed
from benchmarks.report import machine, percentile, write_report
from tests.fakes import payloads

GOAL_KUBERNETES_S = 10.0
# Roomy limits: the control plane may hold other sessions' environments.
KUBE_CONFIG = {"envs": {"max_environments": 10000, "max_per_owner": 10000}}


def wait_state(fake: FakeGitHub, environment: str, state: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for deployment in fake.deployment_list(REPO, environment):
            states = fake.status_states(deployment["id"])
            if state in states:
                return time.perf_counter()
            if "failure" in states or "error" in states:
                raise SystemExit(f"{environment}: the preview failed: {fake.statuses[deployment['id']][-1]}")
        time.sleep(0.02)
    raise SystemExit(f"{environment}: no {state} status after {timeout} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtime", choices=["local", "kubernetes"], default="local")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chargers", type=int, default=5)
    ap.add_argument("--report", help="default: benchmarks/results/webhook_ready[_kubernetes].json")
    args = ap.parse_args()
    kubernetes = args.runtime == "kubernetes"
    report_path = args.report or f"benchmarks/results/webhook_ready{'_kubernetes' if kubernetes else ''}.json"

    state = Path(tempfile.mkdtemp(prefix="envctl-webhook-ready-"))
    extra_env = {"ENVCTL_PREVIEW_RUNTIME": args.runtime}
    base = 100
    if kubernetes:
        from benchmarks.harness.kubernetes import kubeconfig

        (state / "envctl.yaml").write_text(json.dumps(KUBE_CONFIG))
        extra_env |= {"KUBECONFIG": kubeconfig(), "ENVCTL_CONFIG": str(state / "envctl.yaml")}
        base = random.randrange(100_000, 900_000, 1000)  # namespaces no other session uses
    fake = FakeGitHub().start()
    fake.set_permission(REPO, "alice", "write")
    serve = Serve(fake, state, workers=2, extra_env=extra_env)
    runs = []
    load_before = os.getloadavg()
    client = httpx.Client(timeout=10)  # one client: creating one per request costs more than the request
    try:
        for i in range(args.runs):
            number = base + i
            fake.add_pull(REPO, number, f"{number:040x}")
            comment = payloads.comment(f"/preview up --chargers {args.chargers}", number=number, comment_id=number,
                                       repo=REPO)
            body, headers = signed("issue_comment", comment, str(uuid.uuid4()))
            t0 = time.perf_counter()
            answer = client.post(serve.url + PATH, content=body, headers=headers)
            t_202 = time.perf_counter()
            assert answer.status_code == 202, answer.text
            t_started = wait_state(fake, f"pr-{number}", "in_progress", 60)
            t_ready = wait_state(fake, f"pr-{number}", "success", 300)
            if kubernetes:  # untimed: the namespace really is there, every Deployment ready
                phase = kube_runtime(extra_env).status(f"pr-{number}").phase
                assert phase == "Ready", f"pr-{number}: {phase} after the success status"
            closed = payloads.pull_request("closed", number=number, sha=f"{number:040x}", repo=REPO)
            body, headers = signed("pull_request", closed, str(uuid.uuid4()))
            t_close = time.perf_counter()
            client.post(serve.url + PATH, content=body, headers=headers)
            t_gone = wait_state(fake, f"pr-{number}", "inactive", 120)
            runs.append({
                "to_202_ms": round((t_202 - t0) * 1000, 2),
                "inside_server_ms": float(answer.headers["server-timing"].split("dur=")[1]),
                "to_deployment_in_progress_s": round(t_started - t0, 3),
                "to_ready_s": round(t_ready - t0, 3),
                "teardown_to_inactive_s": round(t_gone - t_close, 3),
            })  # fmt: skip
    finally:
        client.close()
        serve.stop()
        fake.stop()
        if kubernetes:
            leftovers = clean_up_kubernetes(extra_env, [f"pr-{base + i}" for i in range(args.runs)])
    ready = sorted(r["to_ready_s"] for r in runs)
    report = {
        "benchmark": "webhook_ready", "runtime": args.runtime, "chargers": args.chargers, "runs": runs,
        "to_ready_s": {"min": ready[0], "median": ready[len(ready) // 2], "p50": percentile(ready, 0.5),
                       "max": ready[-1]},
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "machine": machine(),
    }  # fmt: skip
    if kubernetes:
        report |= {"goal_s": GOAL_KUBERNETES_S, "meets_goal": ready[-1] <= GOAL_KUBERNETES_S,
                   "namespaces_left_after_close": leftovers}
    write_report(report_path, report)


def kube_runtime(env: dict[str, str]) -> Any:
    from envctl.config import parse_config
    from envctl.runtimes.kubernetes import KubernetesRuntime

    return KubernetesRuntime(config=parse_config(KUBE_CONFIG), kubeconfig=env["KUBECONFIG"])


def clean_up_kubernetes(env: dict[str, str], names: list[str]) -> list[str]:
    """Which of our environments were still there after the runs (each is deleted here, waited for)."""
    runtime = kube_runtime(env)
    return [name for name in names if runtime.down(name)]


if __name__ == "__main__":
    main()
