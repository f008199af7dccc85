"""OCPP 1.6 offline behaviour of simulated chargers against the real test peer: transaction messages
queue while the link is down, go out in order after the next accepted boot, are resent when lost
in flight, wait for the real transactionId, and are retried per TransactionMessageAttempts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from envctl.charger.simulator import ledger
from envctl.charger.simulator.reconcile import reconcile
from envctl.charger.simulator.settings import Shard, SimConfig
from envctl.charger.simulator.worker import Worker
from tests.integration.charger.sim_peer import Peer, Received, peer  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(30)
TX = ("StartTransaction", "MeterValues", "StopTransaction")
CP = "CP000001"


@pytest.fixture
async def sim(peer: Peer, tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Worker]]]:  # noqa: F811
    workers: list[Worker] = []

    async def make(**kw: Any) -> Worker:
        cfg = SimConfig(url=peer.url, ledger_dir=str(tmp_path / "ledger"), seed=3, chargers=1, **kw)
        w = Worker(cfg, Shard(0, 0, 1))
        w.start()
        workers.append(w)
        await peer.wait_for(lambda: peer.messages(CP, "StatusNotification"))
        return w

    yield make
    for w in workers:
        await w.stop()


def tx_messages(peer: Peer) -> list[Received]:
    return [m for m in peer.messages(CP) if m.action in TX]


def msg_ts(m: Received) -> str:
    return str(m.payload["meterValue"][0]["timestamp"] if m.action == "MeterValues" else m.payload["timestamp"])


def rows(tmp_path: Path, w: Worker) -> list[dict[str, Any]]:
    w.ledger.flush()
    return sorted(ledger.read_rows(str(tmp_path / "ledger")), key=lambda r: int(r["id"].split(":")[1]))


async def test_offline_messages_queue_then_arrive_in_order_and_are_acknowledged_once(
    sim: Callable[..., Awaitable[Worker]],
    peer: Peer,
    tmp_path: Path,  # noqa: F811
) -> None:
    w = await sim(meter_interval=0.2, session_minutes=(0.025, 0.025), backoff_min=0.2)  # 1.5 s session
    await peer.call(CP, "RemoteStartTransaction", {"idTag": "OFF1", "connectorId": 1})
    await peer.wait_for(lambda: peer.messages(CP, "MeterValues"))
    peer.refuse = True
    await peer.drop(CP)
    await asyncio.sleep(1.5)  # the session ends while offline
    online_tx = len(tx_messages(peer))
    assert w.stats.tx_queued >= 4 and w.stats.connected == 0 and w.stats.currently_offline == 1
    assert w.stats.connect_failures_total >= 3
    peer.refuse = False
    await peer.wait_for(lambda: peer.messages(CP, "StopTransaction") and w.stats.tx_queued == 0, timeout=5)

    # After the reconnect: boot first, then the backlog oldest first, nothing twice.
    after = peer.messages(CP)[[m.action for m in peer.messages(CP)].index("BootNotification", 1) :]
    assert after[0].action == "BootNotification"
    txs = tx_messages(peer)
    assert len(txs) - online_tx >= 4
    assert txs[0].action == "StartTransaction" and txs[-1].action == "StopTransaction"
    assert [msg_ts(m) for m in txs] == sorted(msg_ts(m) for m in txs)
    assert len({(m.action, msg_ts(m)) for m in txs}) == len(txs)
    tid = txs[0].payload  # every later message carries the id the server gave the start
    assert {m.payload["transactionId"] for m in txs[1:]} == {1} and len(peer.transactions) == 1, tid

    recorded = rows(tmp_path, w)
    assert len(recorded) == len(txs)
    assert all(r["state"] == "acknowledged" and r["attempts"] == 1 for r in recorded)
    assert [r["kind"] for r in recorded] == ["start"] + ["meter"] * (len(txs) - 2) + ["stop"]
    # Offline time runs from the drop to the next accepted boot.
    assert w.stats.offline_s.total == 1 and 1.4 < w.stats.offline_s.max < 3.0
    assert w.stats.currently_offline == 0


async def test_a_start_lost_in_flight_is_resent_and_its_stop_waits_for_the_real_id(
    sim: Callable[..., Awaitable[Worker]],
    peer: Peer,
    tmp_path: Path,  # noqa: F811
) -> None:
    peer.drop_on["StartTransaction"] = 1  # the server stores the start, the answer never arrives
    w = await sim(meter_interval=0.2, session_minutes=(0.01, 0.01), reconnect="backoff", backoff_min=0.8)
    await peer.call(CP, "RemoteStartTransaction", {"idTag": "LOST1", "connectorId": 2})
    await peer.wait_for(lambda: peer.messages(CP, "StopTransaction") and w.stats.tx_queued == 0, timeout=6)
    starts = peer.messages(CP, "StartTransaction")
    assert len(starts) == 2 and starts[0].payload == starts[1].payload  # the same message, resent
    assert len(peer.transactions) == 1  # ... and the server kept one transaction
    tid = next(iter(peer.transactions.values()))
    later = [m for m in tx_messages(peer) if m.action != "StartTransaction"]
    assert later and all(m.payload["transactionId"] == tid for m in later)
    start_row = rows(tmp_path, w)[0]
    assert start_row["kind"] == "start" and start_row["attempts"] == 2 and start_row["failures"] == 0
    assert start_row["acknowledged"] and start_row["transaction_id"] == tid
    summary = ledger.summarise(str(tmp_path / "ledger"))
    assert (summary.started, summary.acknowledged, summary.pending, summary.resent) == (1, 1, 0, 1)
    server_rows = [
        {
            "charger": k[0],
            "connector": k[1],
            "id_tag": k[2],
            "meter_start": k[3],
            "timestamp": k[4],
            "transaction_id": v,
        }
        for k, v in peer.transactions.items()
    ]
    assert reconcile(summary, server_rows)["lost"] == 0
    assert reconcile(summary, server_rows * 2)["duplicated"] == 1
    assert reconcile(summary, [])["lost"] == 1


async def test_callerrors_are_retried_after_retry_interval_times_attempt(
    sim: Callable[..., Awaitable[Worker]],
    peer: Peer,
    tmp_path: Path,  # noqa: F811
) -> None:
    peer.fail_next["StartTransaction"] = 2
    w = await sim(tx_attempts=3, tx_retry_interval=0.3, meter_interval=60, session_minutes=(1, 1))
    await peer.call(CP, "RemoteStartTransaction", {"idTag": "RETRY", "connectorId": 1})
    await peer.wait_for(lambda: w.stats.tx_acknowledged == 1, timeout=5)
    at = [m.at for m in peer.messages(CP, "StartTransaction")]
    assert len(at) == 3
    assert 0.25 < at[1] - at[0] < 0.55 and 0.55 < at[2] - at[1] < 0.9
    row = rows(tmp_path, w)[0]
    assert (row["attempts"], row["failures"], row["state"]) == (3, 2, "acknowledged")
    assert w.stats.callerrors_total == 2


async def test_a_start_failing_every_attempt_is_dropped_with_its_stop_and_meter_values(
    sim: Callable[..., Awaitable[Worker]],
    peer: Peer,
    tmp_path: Path,  # noqa: F811
) -> None:
    peer.fail_next["StartTransaction"] = 99
    w = await sim(tx_attempts=2, tx_retry_interval=0.5, meter_interval=0.1, session_minutes=(0.005, 0.005))
    await peer.call(CP, "RemoteStartTransaction", {"idTag": "DOOMED", "connectorId": 1})
    await peer.wait_for(lambda: w.stats.tx_dropped >= 3 and w.stats.tx_queued == 0, timeout=5)
    assert [m.action for m in tx_messages(peer)] == ["StartTransaction", "StartTransaction"]
    recorded = rows(tmp_path, w)
    assert {r["state"] for r in recorded} == {"dropped"}
    assert recorded[-1]["kind"] == "stop" and recorded[-1]["error"] == "start not acknowledged"
    summary = ledger.summarise(str(tmp_path / "ledger"))
    assert (summary.started, summary.acknowledged, summary.dropped) == (1, 0, 1)
