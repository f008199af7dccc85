"""Heartbeat round trips per second through one `envctl server` process, and its handler latency.

N chargers (connections) each keep one Heartbeat outstanding, as OCPP allows, for --duration
seconds; the clients run in --clients separate processes. Reports round trips/s, client-side
round-trip percentiles, the server's own handler p99 (/admin/stats) and server CPU use.

    python -m benchmarks.server_heartbeat --chargers 400 --duration 10 --report benchmarks/results/server_heartbeat.json
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from benchmarks.harness.server import RawCharger, Server, conditions, run_clients, source_address
from benchmarks.report import percentile, write_report


async def client(url: str, first: int, count: int, duration: float, start_at: float) -> dict[str, Any]:
    host, port = url.split("//")[1].split("/")[0].split(":")
    conns = [await RawCharger.connect(host, int(port), f"/ocpp/HB{i}", source_address(i))
             for i in range(first, first + count)]
    latencies: list[float] = []
    done = 0
    frame = RawCharger.frame('[2,"h","Heartbeat",{}]')
    await asyncio.sleep(max(0.0, start_at - time.time()))
    end = time.monotonic() + duration

    async def loop(ws: Any) -> None:
        nonlocal done
        while time.monotonic() < end:
            t0 = time.perf_counter()
            await ws.call(frame)
            latencies.append(time.perf_counter() - t0)
            done += 1

    t0 = time.monotonic()
    await asyncio.gather(*(loop(ws) for ws in conns))
    elapsed = time.monotonic() - t0
    for ws in conns:
        ws.close()
    return {"round_trips": done, "elapsed_s": elapsed, "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chargers", type=int, default=400)
    ap.add_argument("--clients", type=int, default=1, help="client processes")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--report", default="benchmarks/results/server_heartbeat.json")
    args = ap.parse_args()

    cond = conditions()
    server = Server("--heartbeat-interval", "60", database_url=args.database_url)
    try:
        per = args.chargers // args.clients
        start_at = time.time() + 2 + args.chargers / 2000
        import threading

        cpu_box: dict[str, float] = {}

        def sample_cpu() -> None:  # server CPU over the measured window only (not the connects)
            time.sleep(max(0.0, start_at - time.time()))
            cpu_box["start"] = server.cpu_seconds()
            time.sleep(args.duration)
            cpu_box["end"] = server.cpu_seconds()

        sampler = threading.Thread(target=sample_cpu)
        sampler.start()
        results = run_clients("benchmarks.server_heartbeat:client", [
            {"url": server.url(), "first": c * per, "count": per, "duration": args.duration, "start_at": start_at}
            for c in range(args.clients)])
        sampler.join()
        cpu = cpu_box["end"] - cpu_box["start"]
        stats = server.stats()
        rss = server.rss()
    finally:
        server.stop()
    errors = [r for r in results if "error" in r]
    if errors:
        raise SystemExit(f"client failed: {errors}")
    total = sum(r["round_trips"] for r in results)
    elapsed = max(r["elapsed_s"] for r in results)
    report = {
        "benchmark": "server_heartbeat",
        "chargers": per * args.clients,
        "client_processes": args.clients,
        "duration_s": round(elapsed, 3),
        "round_trips": total,
        "round_trips_per_s": round(total / elapsed, 1),
        "client_rtt_p50_ms": round(max(r["p50"] for r in results) * 1000, 3),
        "client_rtt_p99_ms": round(max(r["p99"] for r in results) * 1000, 3),
        "server_handler_p99_ms": stats["handler_p99_ms"],
        "server_cpu_s_during_run": round(cpu, 2),
        "server_cpu_share_during_run": round(cpu / elapsed, 2),
        "server_cpu_us_per_round_trip": round(cpu / max(1, total) * 1e6, 1),
        # what one server core would sustain if it had the core to itself (the machine is shared)
        "implied_round_trips_per_s_per_server_core": round(total / max(0.001, cpu), 1),
        "server_rss_mb_end": round(rss / 2**20, 1),
        "goal": {"round_trips_per_s": 10000, "handler_p99_ms": 20},
        "conditions": cond,
    }
    write_report(args.report, report)


if __name__ == "__main__":
    main()
