"""A hostile charger, run as its own process by the tests: `python -m tests.integration.charger.flood_peer URL N`.

It sends N CALLs with made-up action names on one connection as fast as the server reads them
(pipelined, not one at a time) and reads the N answers; it prints one JSON line
{"sent", "answered", "codes", "seconds"}. A process of its own, so the test's event loop measures
the other chargers' latency and not the flood's own work.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter

import orjson
from websockets.asyncio.client import connect


async def flood(url: str, n: int) -> dict[str, object]:
    started = time.perf_counter()
    codes: Counter[str] = Counter()
    async with connect(url, subprotocols=["ocpp1.6"], compression=None, max_queue=None) as ws:  # type: ignore[list-item]
        async def send() -> None:
            for i in range(n):
                await ws.send(orjson.dumps([2, f"f{i}", f"MadeUpAction{i:05d}", {}]).decode())

        sender = asyncio.create_task(send())
        answered = 0
        while answered < n:
            frame = orjson.loads(await ws.recv())
            codes[frame[2] if frame[0] == 4 else "result"] += 1
            answered += 1
        await sender
    return {"sent": n, "answered": answered, "codes": dict(codes), "seconds": round(time.perf_counter() - started, 3)}


if __name__ == "__main__":
    print(orjson.dumps(asyncio.run(flood(sys.argv[1], int(sys.argv[2])))).decode(), flush=True)
