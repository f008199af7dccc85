"""Delivery -> 202 while Terraform plans run (goal: p99 <= 50 ms with 8 deliveries in flight).

A real `envctl webhook serve` process with Terraform enabled, the fake GitHub API in its own
process, and a bare git repository with one pull request per project. Every delivery is a
writer's `/plan` comment, so every accepted delivery queues a real plan (git fetch, init, plan,
show, render, comment, status) in the webhook's Terraform worker processes; the latency of the
next deliveries is measured while those plans run. The report says how many plans finished and
were running during each run, so it is visible that plans really overlapped the measurement.

    python -m benchmarks.webhook_tf_accept --bursts 300 --concurrency 1 8 --report benchmarks/results/webhook_tf_accept.json
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.harness.terraform import environment, project, quiet_terraform
from benchmarks.harness.webhook import REPO, FakeProcess, Serve, send_raw, signed, summary_ms
from benchmarks.report import load, write_report
from benchmarks.webhook_accept import jobs_for
from tests.fakes import payloads
from tests.fixtures.terraform import GitRemote


def repository(base: Path, prs: int, resources: int) -> tuple[GitRemote, dict[int, str]]:
    git = GitRemote.create(base / "git")
    for i in range(1, prs + 1):
        project(git.work / f"p{i}", base / "states" / f"p{i}.tfstate", resources)
    (git.work / "envctl.yaml").write_text("terraform:\n  parallelism: 2\n")
    git.commit("base")
    git.push_master()
    heads = {}
    for i in range(1, prs + 1):
        git.checkout("master")
        git.checkout(f"pr-{i}", new=True)
        project(git.work / f"p{i}", base / "states" / f"p{i}.tfstate", resources + 1)
        git.commit(f"grow p{i}")
        heads[i] = git.push_pull(i)
    git.checkout("master")
    return git, heads


def jobs(n: int, prs: int, offset: int) -> list[tuple[bytes, dict[str, str]]]:
    return [signed("issue_comment", payloads.comment("/plan", number=i % prs + 1, comment_id=offset + i, repo=REPO,
                                                     login="alice"), f"bench-{uuid.uuid4()}") for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bursts", type=int, default=300, help="a run sends this many bursts of --concurrency deliveries")
    ap.add_argument("--burst-gap-ms", type=float, default=50.0,
                    help="deliveries go in bursts of --concurrency with this pause between, so plans finish during a run")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--prs", type=int, default=8)
    ap.add_argument("--resources", type=int, default=100)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--report", default="benchmarks/results/webhook_tf_accept.json")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="envctl-webhook-tf-"))
    quiet_terraform(base)
    git, heads = repository(base, args.prs, args.resources)
    fake = FakeProcess(0, ("alice=write",), heads)
    import os

    serve = Serve(fake, base / "state", 4, extra_env={
        "ENVCTL_TERRAFORM": "true", "ENVCTL_TERRAFORM_REMOTE": str(git.bare),
        "ENVCTL_TERRAFORM_PROCESSES": str(args.processes), "TF_CLI_CONFIG_FILE": os.environ["TF_CLI_CONFIG_FILE"],
    })  # fmt: skip
    before = load()
    runs: dict[str, dict[str, object]] = {}
    try:
        # warm-up: one plan per PR (imports in the workers, git clones, terraform init) before measuring
        asyncio.run(send_raw(serve.url, jobs(args.prs, args.prs, 1), 4))
        deadline = time.monotonic() + 300
        while serve.deliveries().get("done", 0) < args.prs and time.monotonic() < deadline:
            time.sleep(0.2)
        offset = 100_000
        for concurrency in args.concurrency:
            at_start = serve.deliveries()
            started = time.perf_counter()
            latency, statuses, inside, client_cpu = asyncio.run(
                send_raw(serve.url, jobs(args.bursts * concurrency, args.prs, offset), concurrency, args.burst_gap_ms / 1000))
            wall = time.perf_counter() - started
            at_end = serve.deliveries()
            offset += 100_000
            runs[f"concurrency_{concurrency}"] = {
                "to_202_ms": summary_ms(latency), "inside_server_ms": summary_ms(inside),
                "statuses": sorted(set(statuses)), "wall_s": round(wall, 2),
                "client_cpu_ms_per_request": round(client_cpu / len(latency) * 1000, 3),
                "plans_finished_during_run": at_end.get("done", 0) - at_start.get("done", 0),
                "plans_running_at_end": at_end.get("running", 0), "queued_at_end": at_end.get("queued", 0),
            }  # fmt: skip
    finally:
        serve.stop()
        fake.stop()
    # control, same minutes, same machine: issue 5's intake path (/help jobs on the webhook's threads,
    # no terraform), so the load of the moment can be told apart from the effect of running plans
    control_fake = FakeProcess(args.prs, ("alice=write",))
    control = Serve(control_fake, base / "control-state", 4)
    try:
        asyncio.run(send_raw(control.url, jobs_for(20, args.prs, 1), 4))
        latency, statuses, inside, _ = asyncio.run(send_raw(control.url, jobs_for(args.bursts * 8, args.prs, 10_000), 8,
                                                            args.burst_gap_ms / 1000))
        runs["control_help_jobs_on_threads_concurrency_8"] = {
            "to_202_ms": summary_ms(latency), "inside_server_ms": summary_ms(inside), "statuses": sorted(set(statuses))}
    finally:
        control.stop()
        control_fake.stop()
    write_report(args.report, {
        "benchmark": "webhook_tf_accept", "goal": {"p99_ms_to_202_with_8_in_flight": 50},
        "bursts_per_run": args.bursts, "burst_gap_ms": args.burst_gap_ms, "prs": args.prs, "resources_per_project": args.resources,
        "terraform_worker_processes": args.processes, "runs": runs,
        "goal_met": runs.get("concurrency_8", {}).get("to_202_ms", {}).get("p99", 1e9) <= 50,  # type: ignore[union-attr, operator]
        "load_average_before_after": [before, load()], "machine": environment(),
        "note": "load generator, fake GitHub API, webhook server, its terraform workers and terraform share 2 cores",
    })  # fmt: skip


if __name__ == "__main__":
    main()
