"""Delivery -> environment Ready: a writer's `/preview up --chargers N` through a real
`envctl webhook serve` (local runtime, real processes), timed until GitHub (the fake API) has the
deployment's success status; then `pull_request closed` until the deployment is inactive.

    python benchmarks/webhook_ready.py --runs 3 --chargers 5 --report benchmarks/results/webhook_ready.json
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from webhook_common import PATH, REPO, FakeGitHub, Serve, machine, signed, write_report

from tests.fakes import payloads


def wait_state(fake: FakeGitHub, environment: str, state: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for deployment in fake.deployment_list(REPO, environment):
            if state in fake.status_states(deployment["id"]):
                return time.perf_counter()
        time.sleep(0.02)
    raise SystemExit(f"{environment}: no {state} status after {timeout} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chargers", type=int, default=5)
    ap.add_argument("--report", default="benchmarks/results/webhook_ready.json")
    args = ap.parse_args()

    fake = FakeGitHub().start()
    fake.set_permission(REPO, "alice", "write")
    state = Path(tempfile.mkdtemp(prefix="envctl-webhook-ready-"))
    serve = Serve(fake, state, workers=2, extra_env={"ENVCTL_PREVIEW_RUNTIME": "local"})
    runs = []
    load_before = os.getloadavg()
    client = httpx.Client(timeout=10)  # one client: creating one per request costs more than the request
    try:
        for i in range(args.runs):
            number = 100 + i
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
    ready = sorted(r["to_ready_s"] for r in runs)
    report = {
        "benchmark": "webhook_ready", "runtime": "local", "chargers": args.chargers, "runs": runs,
        "to_ready_s": {"min": ready[0], "median": ready[len(ready) // 2], "max": ready[-1]},
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "machine": machine(),
    }  # fmt: skip
    write_report(args.report, report)


if __name__ == "__main__":
    main()
