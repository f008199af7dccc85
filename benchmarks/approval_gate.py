"""What the CI approval gate and the job summary cost.

    python -m benchmarks.approval_gate --out benchmarks/results/approval_gate.json

1. The gate in process: `CiRun.approve` through PyGithub (the client envctl builds) against the
   fake GitHub API on loopback (a fresh CiRun each time, so both requests are made: the run and
   its review history), N times:
   latency p50/p99 and HTTP requests per approval. GitHub itself adds its network round trips.
2. `envctl release approve` as release.yml runs it (a new process: interpreter, imports, the two
   requests, the store write), against a real 100-charger local fleet: wall time p50/max.
3. The job summary of a large release: a synthetic journal of a 100,000-charger drain at 500/s
   (10,000 disconnect batches of 20 ms), timed for the timeline, the markdown and the PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from envctl.github.client import GitHubClients
from envctl.github.job_summary import render_release_summary
from envctl.github.settings import GitHubSettings
from envctl.release.approval import ApprovalPolicy
from envctl.release.approval_github import ActionsContext, CiRun
from envctl.release.fleet import ReplicaView
from envctl.release.pacing import BucketState
from envctl.release.plan import PlanOptions, compute_plan
from envctl.release.status import ReleaseStatus, summary
from envctl.release.timeline import timeline
from envctl.release.timeline_plot import plot_timeline
from tests.fakes.github_api import FakeGitHub

REPO = "acme/chargers"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def in_process(fake: FakeGitHub, n: int) -> dict[str, Any]:
    run_id = fake.add_workflow_run(REPO, actor="dave", display_title="release v2 at 500/s")
    fake.review_run(REPO, run_id, "carol", comment="Ship it!")
    ctx = ActionsContext(REPO, run_id, 1)
    # the client envctl itself builds in a job (no PyGithub request throttling, its retries)
    gh = GitHubClients(GitHubSettings(api_url=fake.url, token=fake.token)).for_installation(None)
    replicas = [ReplicaView("r1", "v1", True, True, True, False, 15000), ReplicaView("r2", "v1", True, True, True, False, 15000)]
    probe = CiRun(ctx, gh)
    plan = compute_plan(env="prod", runtime="kubernetes", replicas=replicas, options=PlanOptions(to_version="v2", budget_per_s=500),
                        planner="dave", now=datetime.now(timezone.utc), plan_id="bench", origin=probe.origin())  # fmt: skip
    before = len(fake.requests)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        CiRun(ctx, gh).approve(plan, None, ApprovalPolicy(approvers=["carol"]), datetime.now(timezone.utc), [])
        times.append((time.perf_counter() - t0) * 1000)
    return {"approvals": n, "requests_per_approval": (len(fake.requests) - before) / n,
            "p50_ms": round(pct(times, 0.5), 2), "p99_ms": round(pct(times, 0.99), 2)}


def cli(fake: FakeGitHub, runs: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="approval-bench-"))
    policy = state / "envctl.yaml"  # the repository checkout's policy (never the job's environment)
    policy.write_text("release:\n  approval:\n    approvers: [carol]\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ENVCTL_"))} | {"ENVCTL_STATE_DIR": str(state)}

    def envctl(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "envctl", *args], env=base | extra, capture_output=True, text=True, timeout=300, check=True)

    envctl("up", "bench", "--runtime", "local", "--chargers", "100", "--replicas", "2", "--output", "json")
    walls = []
    try:
        for i in range(runs):
            run_id = fake.add_workflow_run(REPO, actor="dave", display_title=f"release v{i + 2} at 100/s")
            fake.review_run(REPO, run_id, "carol")
            ci = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPO, "GITHUB_RUN_ID": str(run_id), "GITHUB_API_URL": fake.url,
                  "GITHUB_TOKEN": fake.token, "ENVCTL_CONFIG": str(policy)}  # fmt: skip
            envctl("release", "plan", "--env", "bench", "--to", f"v{i + 2}", "--budget", "100", "--id", f"r{i}", "--output", "json", **ci)
            t0 = time.perf_counter()
            envctl("release", "approve", f"r{i}", "--env", "bench", "--output", "json", **ci)
            walls.append(time.perf_counter() - t0)
    finally:
        envctl("down", "bench")
    return {"runs": runs, "wall_p50_s": round(statistics.median(walls), 3), "wall_max_s": round(max(walls), 3)}


def big_summary(out_dir: Path) -> dict[str, Any]:
    chargers, budget, batch = 100_000, 500.0, 10
    replicas = [ReplicaView(f"r{i}", "v1", True, True, True, False, chargers // 7) for i in range(7)]
    plan = compute_plan(env="prod", runtime="kubernetes", replicas=replicas, options=PlanOptions(to_version="v2", budget_per_s=budget),
                        planner="dave", now=datetime.now(timezone.utc), plan_id="big")  # fmt: skip
    t0 = 1_800_000_000.0
    events: list[dict[str, Any]] = [{"t": t0, "event": "step_started", "step": "drain_rest"}]
    moved, t = 0, t0
    while moved < plan.connections:
        t += batch / budget
        n = min(batch, plan.connections - moved)
        moved += n
        events.append({"t": t, "event": "disconnect", "step": "drain_rest", "granted": n, "closed": n, "by_replica": {"r0": n}})
    events.append({"t": t, "event": "step_done", "step": "drain_rest"})
    status = ReleaseStatus(plan_id="big", plan_hash=plan.hash, started_at=t0, started_by="dave", approved_by="carol",
                           bucket=BucketState(rate_per_s=budget, burst=100, tokens=0, updated_at=t0), finished_at=t + 1,
                           fleet_connections_at_start=plan.connections, moved_forward=moved)  # fmt: skip
    started = time.perf_counter()
    tl = timeline(plan, status, events)
    t_timeline = time.perf_counter() - started
    doc = {"plan": plan.to_dict(), "status": summary(plan, status, t + 1) | {"approval": None}, "timeline": tl}
    started = time.perf_counter()
    md = render_release_summary(doc, "https://github.com/acme/chargers/actions/runs/1/artifacts/2")
    t_md = time.perf_counter() - started
    started = time.perf_counter()
    plot_timeline(doc, out_dir / "approval_gate_timeline_100k.png")
    t_png = time.perf_counter() - started
    return {"chargers": chargers, "batches": len(events) - 2, "seconds": len(tl["seconds"]), "timeline_ms": round(t_timeline * 1000, 1),
            "markdown_ms": round(t_md * 1000, 2), "markdown_bytes": len(md.encode()), "png_s": round(t_png, 2),
            "png_bytes": (out_dir / "approval_gate_timeline_100k.png").stat().st_size}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--approvals", type=int, default=500)
    p.add_argument("--cli-runs", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/approval_gate.json"))
    args = p.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fake = FakeGitHub().start()
    try:
        report = {
            "loadavg_before": os.getloadavg(),
            "gate_in_process": in_process(fake, args.approvals),
            "approve_cli": cli(fake, args.cli_runs),
            "summary_100k": big_summary(args.out.parent),
            "loadavg_after": os.getloadavg(),
            "note": "shared machine (2 cores, other engineers' builds and tests running)",
        }
    finally:
        fake.stop()
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
