"""Recreate vs rolling vs graceful on the same fleet size: how much gentler is the graceful release?

    python -m benchmarks.release_compare --chargers 1000 --budget 100 --out benchmarks/results/release_compare.json
    python -m benchmarks.release_compare --runtime kubernetes --chargers 10000 --budget 500 \
        --out benchmarks/results/release_k8s_10k/compare.json     # ENVCTL_CONFIG: the cluster's images

Runs `envctl bench release` once per strategy (each on a fresh fleet), keeps each report
next to the summary, and writes the ratios of recreate's and rolling's peak reconnect rate and
connect failures to graceful's. Ratios use max(graceful, 1) as the denominator so a graceful
run with zero failures still gives a finite number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

KEYS = ("peak_reconnects_per_s", "peak_server_connects_per_s", "connect_failures", "max_offline_s", "p99_offline_s",
        "duration_s", "chargers_disconnected_at_end", "passed", "failures")  # fmt: skip


def run(strategy: str, args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    report, plot = out_dir / f"release_{strategy}.json", out_dir / f"release_{strategy}.png"
    cmd = [
        sys.executable, "-m", "envctl", "bench", "release", "--runtime", args.runtime, "--chargers", str(args.chargers),
        "--strategy", strategy, "--budget", str(args.budget), "--replicas", str(args.replicas),
        "--grace", str(args.grace), "--hold", str(args.hold), "--session-rate", str(args.session_rate),
        "--report", str(report), "--plot", str(plot), "--output", "json",
    ]  # fmt: skip
    print(f"== {strategy}", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
    if done.returncode not in (0, 1) or not report.exists():  # 1: the rehearsal failed, which is a result
        raise SystemExit(f"envctl bench release --strategy {strategy} exited {done.returncode}")
    return json.loads(report.read_text())


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return round(a / max(b, 1.0), 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runtime", default="local", choices=["local", "kubernetes"])
    p.add_argument("--chargers", type=int, default=1000)
    p.add_argument("--budget", type=float, default=100.0)
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--grace", type=float, default=30.0)
    p.add_argument("--hold", type=float, default=10.0)
    p.add_argument("--session-rate", type=float, default=60.0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/release_compare.json"))
    args = p.parse_args()
    out_dir = args.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = {s: run(s, args, out_dir) for s in ("recreate", "rolling", "graceful")}
    g = reports["graceful"]
    summary = {
        "runtime": args.runtime,
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
        "chargers": args.chargers,
        "replicas": args.replicas,
        "budget_per_s": args.budget,
        "grace_s": args.grace,
        "strategies": {s: {k: r.get(k) for k in KEYS} | {"transactions": r["transactions"]} for s, r in reports.items()},
        "ratios_to_graceful": {
            s: {
                "peak_reconnects_per_s": ratio(reports[s]["peak_reconnects_per_s"], g["peak_reconnects_per_s"]),
                "peak_server_connects_per_s": ratio(reports[s]["peak_server_connects_per_s"], g["peak_server_connects_per_s"]),
                "connect_failures": ratio(reports[s]["connect_failures"], g["connect_failures"]),
            }
            for s in ("recreate", "rolling")
        },
        "reports": {s: f"release_{s}.json" for s in reports},
    }
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary["ratios_to_graceful"], indent=2))


if __name__ == "__main__":
    main()
