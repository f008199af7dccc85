"""What a refused handshake costs the server: admission control answering 503 + Retry-After.

Firmware reconnects at once, so during a storm a replica may refuse the same chargers over and
over; the refusal must stay cheap. One `envctl server` with --max-accept-rate 1 (so nearly every
handshake is refused) takes --handshakes WebSocket upgrade requests from --clients processes
(raw sockets, --concurrency in flight each), and the server's CPU time is divided by the number
it refused. For comparison, the same run with admission off measures an accepted connect +
BootNotification persisted (claim and boot rows committed).

    python -m benchmarks.admission_refusal --handshakes 20000 --report benchmarks/results/admission_refusal.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from benchmarks.harness.server import RawCharger, Server, conditions, run_clients, source_address
from benchmarks.report import write_report


async def knock(host: str, port: int, first: int, count: int, concurrency: int, start_at: float) -> dict[str, Any]:
    sem = asyncio.Semaphore(concurrency)
    refused = accepted = other = 0

    async def one(i: int) -> None:
        nonlocal refused, accepted, other
        async with sem:
            try:
                c = await RawCharger.connect(host, port, f"/ocpp/KNOCK{i}", source_address(i))
                accepted += 1
                c.close()
            except ConnectionError as exc:
                if "503" in str(exc):
                    refused += 1
                else:
                    other += 1
            except OSError:
                other += 1

    await asyncio.sleep(max(0.0, start_at - time.time()))
    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(first, first + count)))
    return {"refused": refused, "accepted": accepted, "other": other, "elapsed_s": time.monotonic() - t0}


def run(server: Server, handshakes: int, clients: int, concurrency: int) -> tuple[list[dict[str, Any]], float]:
    time.sleep(0.5)
    cpu0 = server.cpu_seconds()
    per = handshakes // clients
    start_at = time.time() + 1.5
    results = run_clients("benchmarks.admission_refusal:knock", [
        {"host": "127.0.0.1", "port": server.port, "first": c * per, "count": per, "concurrency": concurrency,
         "start_at": start_at} for c in range(clients)])
    return results, server.cpu_seconds() - cpu0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--handshakes", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--report", default="benchmarks/results/admission_refusal.json")
    args = ap.parse_args()
    cond = conditions()
    server = Server("--max-accept-rate", "1", "--replica-id", "bench")
    try:
        results, cpu = run(server, args.handshakes, args.clients, args.concurrency)
        stats = server.stats()
    finally:
        server.stop()
    errors = [r for r in results if "error" in r]
    if errors:
        raise SystemExit(f"client failed: {errors}")
    refused = sum(r["refused"] for r in results)
    elapsed = max(r["elapsed_s"] for r in results)
    report = {
        "benchmark": "admission_refusal",
        "handshakes": args.handshakes,
        "refused": refused,
        "accepted": sum(r["accepted"] for r in results),
        "other_failures": sum(r["other"] for r in results),
        "duration_s": round(elapsed, 3),
        "refusals_per_s": round(refused / elapsed, 1),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_us_per_refusal": round(cpu / max(1, refused) * 1e6, 1),
        "implied_refusals_per_s_per_server_core": round(refused / max(cpu, 1e-6), 1),
        "server_rejected_admission": stats["rejected_handshakes"].get("admission", 0),
        "server_claims": stats["store"]["claims"],
        "conditions": cond | {"loadavg_at_end": os.getloadavg()},
    }
    write_report(args.report, report)


if __name__ == "__main__":
    main()
