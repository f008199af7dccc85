"""Fleet benchmark: N chargers connected and heartbeating through `envctl up` on the local runtime.

Measures time to all-connected, simulator memory per charger, server memory per connection,
heartbeat traffic and handler latency while the fleet idles. Writes a JSON report.

    python -m benchmarks.fleet_up --chargers 30000 --replicas 3 --report benchmarks/results/fleet_30k.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil


def _tree_rss(pid: int) -> int:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def _metric(text: str, name: str, label: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and label in line and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chargers", type=int, default=30000)
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--heartbeat-interval", type=int, default=60)
    ap.add_argument("--observe-s", type=float, default=60.0)
    ap.add_argument("--report", default="benchmarks/results/fleet_up.json")
    args = ap.parse_args()

    state = tempfile.mkdtemp(prefix="envctl-bench-")
    env = {**os.environ, "ENVCTL_STATE_DIR": state, "KUBECONFIG": "/nonexistent"}
    envctl = [sys.executable, "-m", "envctl"]
    started = time.monotonic()
    up = subprocess.run(
        [*envctl, "up", "fleet", "--runtime", "local", "--chargers", str(args.chargers),
         "--replicas", str(args.replicas), "--heartbeat-interval", str(args.heartbeat_interval),
         "--timeout", "1200", "--output", "json"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    up_s = time.monotonic() - started
    if up.returncode != 0:
        print(up.stderr, file=sys.stderr)
        subprocess.run([*envctl, "down", "fleet", "--runtime", "local"], env=env)
        sys.exit(1)
    record = json.loads((Path(state) / "envs" / "fleet" / "env.json").read_text())
    admin_urls = [f"http://127.0.0.1:{r['admin_port']}" for r in record["replicas"]]

    def heartbeats() -> float:
        return sum(_metric(httpx.get(f"{u}/metrics").text, "envctl_ocpp_messages_total", 'action="Heartbeat"') for u in admin_urls)

    hb0, t0 = heartbeats(), time.monotonic()
    time.sleep(args.observe_s)
    hb1, t1 = heartbeats(), time.monotonic()
    stats = [httpx.get(f"{u}/admin/stats").json() for u in admin_urls]
    status = json.loads(subprocess.run([*envctl, "status", "fleet", "--runtime", "local", "--output", "json"],
                                       env=env, capture_output=True, text=True).stdout)  # fmt: skip
    sim_rss = _tree_rss(record["simulator"]["pid"])
    server_rss = [psutil.Process(r["pid"]).memory_info().rss for r in record["replicas"]]
    connections = [s["connections"] for s in stats]
    report = {
        "chargers": args.chargers,
        "replicas": args.replicas,
        "heartbeat_interval_s": args.heartbeat_interval,
        "up_to_all_connected_s": round(up_s, 1),
        "connected_at_end": status["chargers"]["connected"],
        "server_connections": connections,
        "heartbeats_per_s": round((hb1 - hb0) / (t1 - t0), 1),
        "handler_p99_ms": [s.get("handler_p99_ms") for s in stats],
        "simulator_rss_mb": round(sim_rss / 2**20, 1),
        "simulator_kb_per_charger": round(sim_rss / 1024 / max(args.chargers, 1), 1),
        "server_rss_mb": [round(r / 2**20, 1) for r in server_rss],
        "server_kb_per_connection": round(sum(server_rss) / 1024 / max(sum(connections), 1), 1),
    }
    subprocess.run([*envctl, "down", "fleet", "--runtime", "local"], env=env, capture_output=True)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
