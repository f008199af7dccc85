"""Rebalance after a scale-out: N chargers on 3 replicas, `envctl scale --replicas 5`, then
`envctl rebalance --budget B`; duration, peak reconnects/s (servers' exact counts and the chargers'
own), final spread, and the ledger (nothing lost) while charging sessions run.

    python -m benchmarks.rebalance --chargers 30000 --budget 500 --report benchmarks/results/rebalance_30k.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from benchmarks.harness.local import down, envctl, sim_seconds
from envctl.bench import transactions
from envctl.runtimes.local import EnvRecord, LocalRuntime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chargers", type=int, default=30_000)
    ap.add_argument("--from-replicas", type=int, default=3)
    ap.add_argument("--to-replicas", type=int, default=5)
    ap.add_argument("--budget", type=float, default=500.0)
    ap.add_argument("--session-rate", type=float, default=6.0)
    ap.add_argument("--report", type=Path, default=Path("benchmarks/results/rebalance_30k.json"))
    args = ap.parse_args()

    state = Path(tempfile.mkdtemp(prefix="envctl-rebalance-"))
    env = {**os.environ, "ENVCTL_STATE_DIR": str(state), "KUBECONFIG": str(state / "none")}
    load_at_start = os.getloadavg()
    t_up = time.time()
    envctl(env, "up", "fleet", "--runtime", "local", "--chargers", str(args.chargers), "--replicas",
           str(args.from_replicas), "--session-rate", str(args.session_rate), "--timeout", "1200")  # fmt: skip
    up_s = time.time() - t_up
    env_dir = LocalRuntime(state).env_dir("fleet")
    try:
        time.sleep(5)  # steady state before the scale-out
        scaled = envctl(env, "scale", "fleet", "--replicas", str(args.to_replicas))
        t0 = time.time()
        report = envctl(env, "rebalance", "fleet", "--budget", str(args.budget))
        t1 = time.time()
        time.sleep(3)  # the simulator's status and ledger catch up (about once a second)
        load_at_end = os.getloadavg()
        sim = json.loads((env_dir / "sim-status.json").read_text())
        record = EnvRecord.load(env_dir)
        assert record.simulator is not None
        ledger = transactions.count(record.simulator.ledger_dir, record.database_url)
        out = {
            "benchmark": "rebalance",
            "chargers": args.chargers,
            "replicas": f"{args.from_replicas} -> {args.to_replicas}",
            "budget_per_s": args.budget,
            "up_s": round(up_s, 1),
            "scale": scaled,
            "rebalance": report,
            "moved": report["moved"],
            "duration_s": report["duration_s"],
            "peak_reconnects_per_s": report["peak_reconnects_per_s"],
            "peak_reconnects_per_s_charger_side": max(sim_seconds(env_dir, "reconnects", t0 - 1, t1 + 2), default=0),
            "connect_failures": sum(sim_seconds(env_dir, "connect_failures", t0 - 1, t1 + 2)),
            "spread_pct": report["spread_pct"],
            "connected_at_end": sim.get("connected"),
            "transactions": ledger,
            "conditions": {
                "loadavg_at_start": load_at_start, "loadavg_at_end": load_at_end, "cpus": os.cpu_count(),
                "note": "shared 2-core machine: replicas, simulator workers and other engineers' work compete for CPU",
            },
        }  # fmt: skip
    finally:
        down(env, "fleet")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k not in ("scale", "rebalance")}, indent=2))


if __name__ == "__main__":
    main()
