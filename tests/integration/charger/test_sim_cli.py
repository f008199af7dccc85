"""`envctl sim` as a user runs it: several worker processes, status file, report, ledger, SIGTERM,
spread source addresses - against the real OCPP test peer."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from envctl.charger.simulator import ledger
from tests.integration.charger.sim_peer import Peer, peer  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(40)

STATUS_FIELDS = {
    "target", "connected", "connects_total", "reconnects_total", "connect_failures_total", "disconnects_total",
    "calls_total", "callerrors_total", "call_latency_ms", "tx", "offline", "workers", "updated_at",
}  # fmt: skip


async def start_sim(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "envctl", "sim", "--no-live", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


async def test_multi_worker_run_writes_status_report_and_ledger_from_several_addresses(
    peer: Peer,
    tmp_path: Path,  # noqa: F811
) -> None:
    status_file, report_file, ledger_dir = tmp_path / "status.json", tmp_path / "report.json", tmp_path / "ledger"
    proc = await start_sim(
        "--url", peer.url, "--chargers", "6", "--workers", "2", "--duration", "5", "--id-pattern", "MW{n:03d}",
        "--source-addresses", "127.0.0.2-127.0.0.4", "--heartbeat-interval", "1",
        "--session-rate", "7200", "--session-minutes", "0.01-0.02", "--meter-interval", "0.5",
        "--status-file", str(status_file), "--report", str(report_file), "--ledger-dir", str(ledger_dir),
        "--output", "json", "--seed", "5",
    )  # fmt: skip
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and not (seen and seen["connected"] == 6):
        seen = read_status(status_file) or {}
        await asyncio.sleep(0.2)
    assert set(seen) >= STATUS_FIELDS, seen
    assert seen["connected"] == 6 and seen["target"] == 6 and len(seen["workers"]) == 2
    assert set(seen["tx"]) >= {"queued", "sent", "acknowledged"}
    assert set(seen["offline"]) >= {"currently_offline", "max_s", "p99_s"}

    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    report = json.loads(out)
    assert report == json.loads(report_file.read_text())
    assert report["worker_count"] == 2 and report["workers_failed"] == 0
    assert report["connects_total"] == 6 and report["connect_failures_total"] == 0
    assert report["connects_per_s"] > 0 and report["call_latency_ms"]["p99"] is not None
    assert report["calls_total"] >= 6 * 4  # boot + 3 statuses each, plus heartbeats
    assert report["rss_per_charger_bytes"] > 0

    # Every charger connected from the address its index maps to, round-robin across three.
    ips = {c: ip for c, _, ip in peer.connects}
    assert {ips[f"MW{n:03d}"] for n in range(1, 7)} == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}
    assert ips["MW001"] == ips["MW004"] == "127.0.0.2"
    assert len(peer.messages(action="Heartbeat")) >= 6 * 2

    summary = ledger.summarise(str(ledger_dir))
    assert sorted(p.name for p in ledger_dir.iterdir()) == ["ledger-w0.jsonl", "ledger-w1.jsonl"]
    # A session may start in the run's last instant: queued in the ledger, never sent.
    received = len(peer.messages(action="StartTransaction"))
    assert summary.acknowledged <= received <= summary.started and received > 0
    assert summary.acknowledged + summary.pending == summary.started
    assert report["ledger"]["started"] == summary.started
    assert not peer.invalid


async def test_sigterm_stops_cleanly_flushes_the_ledger_and_writes_the_report(
    peer: Peer,
    tmp_path: Path,  # noqa: F811
) -> None:
    status_file, report_file, ledger_dir = tmp_path / "status.json", tmp_path / "report.json", tmp_path / "ledger"
    proc = await start_sim(
        "--url", peer.url, "--chargers", "3", "--duration", "0", "--status-file", str(status_file),
        "--report", str(report_file), "--ledger-dir", str(ledger_dir), "--reconnect", "backoff",
    )  # fmt: skip
    await peer.wait_for(lambda: len(peer.connections) == 3, timeout=10)
    await peer.call("CP000002", "RemoteStartTransaction", {"idTag": "TERM", "connectorId": 1})
    await peer.wait_for(lambda: peer.messages("CP000002", "StartTransaction"))
    await asyncio.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, err.decode()
    report = json.loads(report_file.read_text())
    assert report["connects_total"] == 3 and report["disconnects_total"] == 0
    summary = ledger.summarise(str(ledger_dir))
    assert (summary.started, summary.acknowledged) == (1, 1)
    await peer.wait_for(lambda: not peer.connections)  # connections were closed, not left dangling


async def test_bad_flags_fail_before_anything_starts(tmp_path: Path) -> None:
    proc = await start_sim("--chargers", "2", "--id-pattern", "same", "--output", "json")
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2
    assert json.loads(err)["error"] == "config" and "same id" in json.loads(err)["message"]
