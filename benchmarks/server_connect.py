"""Connect storm against one `envctl server` process: WebSocket handshake + BootNotification (persisted).

--chargers connections are opened by --clients separate processes, --concurrency handshakes in
flight per client; each sends a BootNotification and waits for the answer, which the server gives
only after the charger row is committed. Connections stay open so the server's RSS per
connection can be measured, then the script asks the server to drop them all (POST /admin/disconnect).

    python -m benchmarks.server_connect --chargers 5000 --report benchmarks/results/server_connect.json
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx

from benchmarks.harness.server import RawCharger, Server, conditions, run_clients, source_address
from benchmarks.report import percentile, write_report

BOOT = '[2,"b","BootNotification",{"chargePointVendor":"bench","chargePointModel":"raw-1"}]'


async def client(host: str, port: int, first: int, count: int, concurrency: int, start_at: float,
                 hold_s: float) -> dict[str, Any]:
    sem = asyncio.Semaphore(concurrency)
    frame = RawCharger.frame(BOOT)
    latencies: list[float] = []
    failures: list[str] = []
    conns: list[RawCharger] = []

    async def one(i: int) -> None:
        async with sem:
            t0 = time.perf_counter()
            try:
                c = await RawCharger.connect(host, port, f"/ocpp/BOOT{i}", source_address(i))
                answer = await c.call(frame)
                if not answer.startswith(b"[3,"):
                    failures.append(answer[:80].decode())
                conns.append(c)
                latencies.append(time.perf_counter() - t0)
            except Exception as exc:  # count, keep going
                failures.append(repr(exc)[:120])

    await asyncio.sleep(max(0.0, start_at - time.time()))
    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(first, first + count)))
    elapsed = time.monotonic() - t0
    await asyncio.sleep(hold_s)  # the parent measures RSS while everything is connected
    for c in conns:
        c.close()
    return {"connected": len(conns), "failures": len(failures), "failure_examples": failures[:3],
            "elapsed_s": elapsed, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chargers", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=200, help="handshakes in flight per client")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--report", default="benchmarks/results/server_connect.json")
    args = ap.parse_args()

    cond = conditions()
    server = Server(database_url=args.database_url)
    try:
        time.sleep(0.5)
        rss0 = server.rss()
        cpu0 = server.cpu_seconds()
        per = args.chargers // args.clients
        start_at = time.time() + 2.0
        hold = 3.0 + args.chargers / 4000
        import threading

        box: dict[str, Any] = {}
        t = threading.Thread(target=lambda: box.setdefault("r", run_clients("benchmarks.server_connect:client", [
            {"host": "127.0.0.1", "port": server.port, "first": c * per, "count": per,
             "concurrency": args.concurrency, "start_at": start_at, "hold_s": hold} for c in range(args.clients)])))
        t.start()
        # sample RSS while all connections are open
        peak_conns, rss_at_peak, cpu_at_peak = 0, rss0, cpu0
        while t.is_alive():
            time.sleep(0.25)
            try:
                n = server.stats()["connections"]
            except httpx.HTTPError:
                continue
            if n >= peak_conns:
                peak_conns, rss_at_peak, cpu_at_peak = n, server.rss(), server.cpu_seconds()
        t.join()
        results = box["r"]
        stats = server.stats()
        from envctl.charger.store import open_store

        async def count() -> int:
            st = await open_store(server.database_url)
            n = await st.count_chargers()
            await st.close()
            return n

        persisted = asyncio.run(count())
    finally:
        server.stop()
    errors = [r for r in results if "error" in r]
    if errors:
        raise SystemExit(f"client failed: {errors}")
    connected = sum(r["connected"] for r in results)
    elapsed = max(r["elapsed_s"] for r in results)
    report = {
        "benchmark": "server_connect",
        "chargers": per * args.clients,
        "client_processes": args.clients,
        "concurrency_per_client": args.concurrency,
        "connected": connected,
        "failures": sum(r["failures"] for r in results),
        "failure_examples": [e for r in results for e in r["failure_examples"]][:5],
        "duration_s": round(elapsed, 3),
        "connects_with_boot_per_s": round(connected / elapsed, 1),
        "boot_rows_persisted": persisted,
        "connect_boot_p50_ms": round(max(r["p50"] for r in results) * 1000, 2),
        "connect_boot_p99_ms": round(max(r["p99"] for r in results) * 1000, 2),
        "server_handler_p99_ms": stats["handler_p99_ms"],
        "server_cpu_s_for_storm": round(cpu_at_peak - cpu0, 2),
        "server_cpu_us_per_connect": round((cpu_at_peak - cpu0) / max(1, connected) * 1e6, 1),
        # what one server core would sustain if it had the core to itself (the machine is shared)
        "implied_connects_per_s_per_server_core": round(connected / max(0.001, cpu_at_peak - cpu0), 1),
        "server_cpu_share_during_storm": round((cpu_at_peak - cpu0) / elapsed, 2),
        "server_rss_mb_idle": round(rss0 / 2**20, 1),
        "server_rss_mb_connected": round(rss_at_peak / 2**20, 1),
        "server_rss_kb_per_connection": round((rss_at_peak - rss0) / max(1, peak_conns) / 1024, 2),
        "peak_connections": peak_conns,
        "db_commits": stats["store"]["commits"],
        "goal": {"connects_with_boot_per_s": 2000},
        "conditions": cond,
    }
    write_report(args.report, report)


if __name__ == "__main__":
    main()
