"""Simulator benchmark: N simulated chargers against real `envctl server` replicas.

Starts R server replicas sharing one port (SO_REUSEPORT, SQLite in a temp dir), runs
`envctl sim` for a fixed time, and writes a JSON report: the ramp's connects/s, time to all
connected, simulator RSS per charger (gross, and net of each worker's start-up baseline), CALL
latency, reconnect/offline numbers. The simulator's own report is included verbatim.

    python -m benchmarks.sim_fleet --chargers 10000 --workers 1 --report benchmarks/results/sim_fleet_10k.json
    python -m benchmarks.sim_fleet --chargers 30000 --replicas 2 --drop-all   # + a mass reconnect
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ENVCTL = [sys.executable, "-m", "envctl"]


def start_server(tmp: Path, port: int, replica: int, heartbeat: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [*ENVCTL, "server", "--port", str(port), "--admin-port", "0", "--reuse-port",
         "--database-url", f"sqlite:///{tmp / 'server.db'}", "--heartbeat-interval", str(heartbeat),
         "--replica-id", f"bench-{replica}"],
        stdout=subprocess.PIPE, stderr=open(tmp / f"server-{replica}.log", "w"), text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"server replica {replica} did not start; see {tmp / f'server-{replica}.log'}")
    return proc, json.loads(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chargers", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=0, help="simulator workers (0 = sim default)")
    ap.add_argument("--replicas", type=int, default=0, help="server replicas (0 = one per 15,000 chargers)")
    ap.add_argument("--duration", type=float, default=60.0, help="simulator run time (s)")
    ap.add_argument("--connect-rate", type=float, default=0.0)
    ap.add_argument("--heartbeat-interval", type=int, default=60)
    ap.add_argument("--session-rate", type=float, default=0.0)
    ap.add_argument("--source-addresses", default="127.0.0.2-127.0.0.60")
    ap.add_argument("--reconnect", default="immediate", help="immediate | backoff")
    ap.add_argument("--backoff-max", type=float, default=60.0)
    ap.add_argument("--drop-all", action="store_true", help="close every connection halfway through (1012)")
    ap.add_argument("--report", default="benchmarks/results/sim_fleet.json")
    args = ap.parse_args()

    replicas = args.replicas or max(1, -(-args.chargers // 15000))
    tmp = Path(tempfile.mkdtemp(prefix="envctl-simbench-"))
    servers, ready = [], []
    port = 0
    for r in range(replicas):
        proc, info = start_server(tmp, port, r, args.heartbeat_interval)
        port = int(info["ocpp_port"])
        servers.append(proc)
        ready.append(info)
    admin = [f"http://127.0.0.1:{i['admin_port']}" for i in ready]
    sim_report = tmp / "sim-report.json"
    cmd = [
        *ENVCTL, "sim", "--url", f"ws://127.0.0.1:{port}/ocpp", "--chargers", str(args.chargers),
        "--duration", str(args.duration), "--no-live", "--report", str(sim_report),
        "--status-file", str(tmp / "sim-status.json"), "--ledger-dir", str(tmp / "ledger"),
        "--connect-rate", str(args.connect_rate), "--session-rate", str(args.session_rate),
        "--source-addresses", args.source_addresses, "--reconnect", args.reconnect,
        "--backoff-max", str(args.backoff_max),
    ]  # fmt: skip
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    started = time.monotonic()
    sim = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(tmp / "sim.log", "w"))
    dropped = None
    try:
        if args.drop_all:
            # Wait until the whole fleet is connected, then drop everything at once.
            while time.monotonic() - started < args.duration:
                try:
                    status = json.loads((tmp / "sim-status.json").read_text())
                except (OSError, ValueError):
                    status = {}
                if status.get("booted") == args.chargers:
                    break
                time.sleep(0.5)
            time.sleep(5)
            dropped = sum(httpx.post(f"{u}/admin/disconnect", json={"count": args.chargers}, timeout=30).json()["closed"]
                          for u in admin)  # fmt: skip
        sim.wait(timeout=args.duration + 120)
        server_stats = [httpx.get(f"{u}/admin/stats", timeout=10).json() for u in admin]
    finally:
        if sim.poll() is None:
            sim.send_signal(signal.SIGTERM)
            sim.wait(timeout=60)
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
        for proc in servers:
            proc.wait(timeout=60)
    sr = json.loads(sim_report.read_text())
    report = {
        "benchmark": "sim_fleet",
        "conditions": {
            "chargers": args.chargers,
            "sim_workers": sr["worker_count"],
            "server_replicas": replicas,
            "duration_s": args.duration,
            "connect_rate": args.connect_rate or "unpaced",
            "heartbeat_interval_s": args.heartbeat_interval,
            "session_rate_per_h": args.session_rate,
            "source_addresses": args.source_addresses,
            "drop_all": args.drop_all,
            "reconnect": args.reconnect,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "simulator and servers share the same machine (loopback)",
        },
        "initial_connect_s": sr["initial_connect_s"],
        "connects_per_s": sr["connects_per_s"],
        "peak_connects_per_s": sr["peak_connects_per_s"],
        "rss_per_charger_kib": round(sr["rss_per_charger_bytes"] / 1024, 1),
        "rss_per_charger_net_kib": round((sr["rss_per_charger_net_bytes"] or 0) / 1024, 1),
        "sim_rss_mib": round(sr["rss_bytes"] / 2**20, 1),
        "call_latency_ms": sr["call_latency_ms"],
        "connected_at_end": sr["booted"],
        "connect_failures": sr["connect_failures_total"],
        "connect_failure_reasons": sr["connect_failure_reasons"],
        "reconnects": sr["reconnects_total"],
        "dropped_by_server": dropped,
        "offline": sr["offline"],
        "server_connections_at_end": [s.get("connections") for s in server_stats],
        "simulator_report": {k: v for k, v in sr.items() if k not in ("timeline", "config")},
        "timeline": sr["timeline"],
    }
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("simulator_report", "timeline")}, indent=2))


if __name__ == "__main__":
    main()
