"""Webhook intake benchmark: delivery received -> 202 (goal: p99 <= 50 ms).

Runs a real `envctl webhook serve` process against the fake GitHub API and sends signed
issue_comment deliveries (`/help` on PRs spread over --prs), first one at a time (pure latency),
then bursts of --concurrency in flight, each followed by replays of the same deliveries (dedupe path). Each 202 includes
verifying the signature, parsing, and the SQLite commit (synchronous=FULL) of the delivery. The
report also gives how long the queue took to finish all the work behind those 202s.

    python -m benchmarks.webhook_accept --deliveries 300 --concurrency 4 8 32 --report benchmarks/results/webhook_accept.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.harness.webhook import REPO, FakeProcess, Serve, send_raw, signed, summary_ms
from benchmarks.report import machine, write_report
from tests.fakes import payloads


def jobs_for(n: int, prs: int, offset: int) -> list[tuple[bytes, dict[str, str]]]:
    out = []
    for i in range(n):
        payload = payloads.comment("/help", number=i % prs + 1, comment_id=offset + i, repo=REPO)
        out.append(signed("issue_comment", payload, f"bench-{uuid.uuid4()}"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deliveries", type=int, default=300)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[4, 8, 32], help="burst sizes after the sequential run")
    ap.add_argument("--prs", type=int, default=20)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--report", default="benchmarks/results/webhook_accept.json")
    args = ap.parse_args()

    fake = FakeProcess(args.prs)
    state = Path(tempfile.mkdtemp(prefix="envctl-webhook-bench-"))
    serve = Serve(fake, state, args.workers)
    load_before = os.getloadavg()
    runs: dict[str, dict[str, object]] = {}
    expected = 0

    def settle() -> None:
        deadline = time.monotonic() + 300
        while serve.deliveries().get("done", 0) < expected and time.monotonic() < deadline:
            time.sleep(0.1)

    try:
        asyncio.run(send_raw(serve.url, jobs_for(20, args.prs, 1), 4))  # warm-up: imports, connections
        expected += 20
        settle()
        offset = 100_000
        for concurrency in [1, *args.concurrency]:
            jobs = jobs_for(args.deliveries, args.prs, offset)
            offset += 100_000
            started = time.perf_counter()
            latency, statuses, inside, client_cpu = asyncio.run(send_raw(serve.url, jobs, concurrency))
            wall = time.perf_counter() - started
            expected += args.deliveries
            replay_latency, replay_statuses, _, _ = asyncio.run(send_raw(serve.url, jobs, concurrency))
            settle()
            runs[f"concurrency_{concurrency}"] = {
                "to_202_ms": summary_ms(latency), "inside_server_ms": summary_ms(inside),
                "statuses": sorted(set(statuses)), "accepted_per_s": round(args.deliveries / wall, 1),
                "client_cpu_ms_per_request": round(client_cpu / args.deliveries * 1000, 3),
                "replay_ms": summary_ms(replay_latency), "replay_statuses": sorted(set(replay_statuses)),
                "all_work_done_s": round(time.perf_counter() - started, 2),
            }  # fmt: skip
        counts = serve.deliveries()
    finally:
        serve.stop()
        fake.stop()

    report = {
        "benchmark": "webhook_accept",
        "goal": {"p99_ms_to_202": 50},
        "deliveries_per_run": args.deliveries, "workers": args.workers, "prs": args.prs,
        "runs": runs,
        "delivery_states": counts,
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "goal_met_at": [k for k, v in runs.items() if v["to_202_ms"]["p99"] <= 50],  # type: ignore[index]
        "machine": machine(),
        "note": "load generator (webhook_common.send_raw), fake GitHub API (own process) and webhook server share the machine's cores",
    }  # fmt: skip
    write_report(args.report, report)


if __name__ == "__main__":
    main()
