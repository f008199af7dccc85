"""Hostile input to a real charger-server process (issue 18): floods of made-up actions, idle
sockets that never finish their handshake, non-finite numbers, forged charger ids."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.charger.conftest import REPO, boot, charger, ocpp_call

pytestmark = pytest.mark.timeout(120)

METRICS_BOUND = 64 * 1024  # /metrics of a replica that saw every 1.6 action is ~25 KB


async def _heartbeat_ms(ws: Any) -> float:
    t = time.perf_counter()
    frame = await ocpp_call(ws, "Heartbeat", {})
    assert frame[0] == 3, frame
    return (time.perf_counter() - t) * 1000


async def test_a_flood_of_made_up_actions_leaves_metrics_small_and_other_chargers_fast(server_process: Any) -> None:
    sp = server_process()
    async with charger(sp.ocpp_url("CP1")) as ws:
        await boot(ws)
        flood = subprocess.Popen([sys.executable, "-m", "tests.integration.charger.flood_peer",
                                  sp.ocpp_url("ATTACKER"), "20000"], cwd=REPO, stdout=subprocess.PIPE)
        during: list[float] = []
        deadline = time.monotonic() + 60
        while flood.poll() is None and time.monotonic() < deadline:
            during.append(await _heartbeat_ms(ws))
            await asyncio.sleep(0.02)
        out, _ = flood.communicate(timeout=30)
        report = json.loads(out)
        assert report["answered"] == 20000 and report["codes"] == {"NotImplemented": 20000}, report

        # a scrape while another charger's Heartbeats go on: neither waits for the other
        async with httpx.AsyncClient(base_url=sp.admin_url, timeout=30) as http:
            scrape = asyncio.create_task(http.get("/metrics"))
            around: list[float] = []
            while not scrape.done():
                around.append(await _heartbeat_ms(ws))
            metrics = scrape.result()
            around.append(await _heartbeat_ms(ws))
            stats = (await http.get("/admin/stats")).json()
    assert metrics.status_code == 200 and len(metrics.content) < METRICS_BOUND, len(metrics.content)
    assert 'envctl_ocpp_messages_total{action="<unknown>"} 20000.0' in metrics.text
    assert "MadeUpAction" not in metrics.text
    assert stats["messages_by_action"]["<unknown>"] == 20000 and len(stats["messages_by_action"]) <= 3
    everything = sorted(during + around)
    p90 = everything[int(0.9 * len(everything))]
    # Under 50 ms for nine Heartbeats in ten; a shared 2-core machine may deschedule any process
    # for a moment, hence the looser ceiling for the rest (before: 0.3 s during the flood, seconds
    # behind a scrape).
    assert len(during) >= 3 and p90 < 50 and everything[-1] < 250, (report, [round(x) for x in during],
                                                                     [round(x) for x in around])
