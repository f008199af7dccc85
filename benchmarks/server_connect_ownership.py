"""Connects + BootNotification persisted per second by one replica, with the ownership bookkeeping
and without it, side by side in one run.

"Without" is the server as it was before fleet-wide ownership (--baseline-ref, extracted with
`git archive` into a temporary directory; nothing in the repository changes). Rounds alternate
(with, without, with, without, ...) on fresh SQLite databases so the load of a shared machine
falls on both alike; each round opens --chargers connections from --clients processes
(benchmarks.server_connect's raw client) and waits for every BootNotification answer, which
the server gives only after the charger row (and, with ownership, its claim) is committed.
Admission control is off (--max-accept-rate 0): this measures capacity, and the admission
default is derived from it.

    python -m benchmarks.server_connect_ownership --chargers 8000 --rounds 3 \\
        --report benchmarks/results/server_connect_ownership.json
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tarfile
import tempfile
import threading
import time
from io import BytesIO
from pathlib import Path
from typing import Any

from benchmarks.harness.server import REPO, Server, conditions, run_clients
from benchmarks.report import write_report

BASELINE_REF = "c90d791"  # the last commit before fleet-wide ownership (issue 10)


def extract(ref: str) -> Path:
    out = Path(tempfile.mkdtemp(prefix="envctl-baseline-"))
    data = subprocess.run(["git", "archive", ref, "envctl"], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(out)
    return out


def one_round(variant: str, root: Path, chargers: int, clients: int, concurrency: int) -> dict[str, Any]:
    args = ["--replica-id", "bench", "--max-accept-rate", "0"] if variant == "ownership" else []
    server = Server(*args, root=root)
    try:
        time.sleep(0.5)
        cpu0 = server.cpu_seconds()
        per = chargers // clients
        start_at = time.time() + 1.5
        box: dict[str, Any] = {}
        t = threading.Thread(target=lambda: box.setdefault("r", run_clients("benchmarks.server_connect:client", [
            {"host": "127.0.0.1", "port": server.port, "first": c * per, "count": per, "concurrency": concurrency,
             "start_at": start_at, "hold_s": 1.0} for c in range(clients)])))
        t.start()
        cpu_at_peak, peak = cpu0, 0
        while t.is_alive():
            time.sleep(0.2)
            try:
                n = server.stats()["connections"]
            except Exception:
                continue
            if n >= peak:
                peak, cpu_at_peak = n, server.cpu_seconds()
        t.join()
        stats = server.stats()
    finally:
        server.stop()
    results = box["r"]
    errors = [r for r in results if "error" in r]
    if errors:
        raise SystemExit(f"client failed: {errors}")
    connected = sum(r["connected"] for r in results)
    elapsed = max(r["elapsed_s"] for r in results)
    return {
        "variant": variant,
        "connected": connected,
        "failures": sum(r["failures"] for r in results),
        "duration_s": round(elapsed, 3),
        "connects_with_boot_per_s": round(connected / elapsed, 1),
        "server_cpu_us_per_connect": round((cpu_at_peak - cpu0) / max(1, connected) * 1e6, 1),
        "connect_boot_p99_ms": round(max(r["p99"] for r in results) * 1000, 2),
        "server_handler_p99_ms": stats["handler_p99_ms"],
        "db_commits": stats["store"]["commits"],
        "claims": stats["store"].get("claims"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chargers", type=int, default=8000)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline-ref", default=BASELINE_REF)
    ap.add_argument("--report", default="benchmarks/results/server_connect_ownership.json")
    args = ap.parse_args()
    cond = conditions()
    baseline = extract(args.baseline_ref)
    rounds: list[dict[str, Any]] = []
    for i in range(args.rounds):
        for variant, root in (("ownership", REPO), ("baseline", baseline)):
            r = one_round(variant, root, args.chargers, args.clients, args.concurrency)
            print(f"round {i + 1} {variant}: {r['connects_with_boot_per_s']}/s, {r['server_cpu_us_per_connect']} us/connect",
                  flush=True)
            rounds.append(r | {"round": i + 1})

    def median(variant: str, key: str) -> float:
        return float(statistics.median(r[key] for r in rounds if r["variant"] == variant))

    rate_with, rate_without = median("ownership", "connects_with_boot_per_s"), median("baseline", "connects_with_boot_per_s")
    cpu_with, cpu_without = median("ownership", "server_cpu_us_per_connect"), median("baseline", "server_cpu_us_per_connect")
    import os

    report = {
        "benchmark": "server_connect_ownership",
        "chargers_per_round": args.chargers,
        "baseline_ref": args.baseline_ref,
        "median_connects_with_boot_per_s": {"with_ownership": rate_with, "without": rate_without},
        "slower_pct": round((1 - rate_with / rate_without) * 100, 1),
        "median_server_cpu_us_per_connect": {"with_ownership": cpu_with, "without": cpu_without},
        "cpu_more_pct": round((cpu_with / cpu_without - 1) * 100, 1),
        "goal": {"slower_pct_at_most": 10},
        "rounds": rounds,
        "conditions": cond | {"loadavg_at_end": os.getloadavg()},
    }
    write_report(args.report, report)


if __name__ == "__main__":
    main()
