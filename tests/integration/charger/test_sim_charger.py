"""Simulated chargers against a real OCPP test peer over real sockets: boot, heartbeats, sessions,
central-initiated calls, reconnect policies."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from envctl.charger.simulator import ledger
from envctl.charger.simulator.settings import Shard, SimConfig
from envctl.charger.simulator.worker import Worker
from tests.integration.charger.sim_peer import Peer, peer  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(30)

MakeSim = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def sim(peer: Peer, tmp_path: Path) -> AsyncIterator[MakeSim]:  # noqa: F811
    workers: list[Worker] = []

    async def make(**kw: Any) -> Worker:
        kw.setdefault("url", peer.url)
        kw.setdefault("ledger_dir", str(tmp_path / "ledger"))
        kw.setdefault("seed", 7)
        cfg = SimConfig(**kw)
        w = Worker(cfg, Shard(0, 0, cfg.chargers))
        w.start()
        workers.append(w)
        return w

    yield make
    for w in workers:
        await w.stop()


async def booted(peer: Peer, charger: str, count: int = 1) -> None:
    await peer.wait_for(
        lambda: len(peer.messages(charger, "BootNotification")) >= count and peer.connections.get(charger)
    )


async def test_boot_then_status_for_every_connector_then_heartbeats_at_the_server_interval(sim: MakeSim) -> None:
    peer_ = Peer(interval=1)
    await peer_.start()
    try:
        await sim(url=peer_.url, chargers=2, connectors=2)
        await peer_.wait_for(lambda: len(peer_.messages("CP000002", "Heartbeat")) >= 2, timeout=4)
        for cp in ("CP000001", "CP000002"):
            actions = peer_.actions(cp)
            assert actions[:4] == ["BootNotification", "StatusNotification", "StatusNotification", "StatusNotification"]
            statuses = peer_.messages(cp, "StatusNotification")
            assert [m.payload["connectorId"] for m in statuses] == [0, 1, 2]
            assert all(m.payload["status"] == "Available" for m in statuses)
        beats = [m.at for m in peer_.messages("CP000002", "Heartbeat")]
        boot = peer_.messages("CP000002", "BootNotification")[0].at
        assert 0.8 < beats[0] - boot < 1.5
        assert 0.8 < beats[1] - beats[0] < 1.3
        assert not peer_.invalid
    finally:
        await peer_.stop()


async def test_heartbeat_interval_flag_overrides_the_server(sim: MakeSim, peer: Peer) -> None:  # noqa: F811
    await sim(chargers=1, heartbeat_interval=0.2)
    await peer.wait_for(lambda: len(peer.messages("CP000001", "Heartbeat")) >= 3, timeout=3)
    beats = [m.at for m in peer.messages("CP000001", "Heartbeat")]
    assert beats[2] - beats[0] < 1.0  # the server said 60 s


async def test_pending_boot_is_retried_after_the_interval_and_nothing_else_is_sent(sim: MakeSim) -> None:
    peer_ = Peer(interval=1, boot_statuses=["Pending", "Rejected"])
    await peer_.start()
    try:
        await sim(url=peer_.url, chargers=1)
        await peer_.wait_for(lambda: peer_.messages("CP000001", "StatusNotification"), timeout=5)
        boots = [m.at for m in peer_.messages("CP000001", "BootNotification")]
        assert len(boots) == 3
        assert 0.8 < boots[1] - boots[0] < 1.5 and 0.8 < boots[2] - boots[1] < 1.5
        assert peer_.actions("CP000001")[:3] == ["BootNotification"] * 3
    finally:
        await peer_.stop()


async def test_a_charging_session_sends_its_messages_in_order_with_the_servers_transaction_id(
    sim: MakeSim,
    peer: Peer,
    tmp_path: Path,  # noqa: F811
) -> None:
    w = await sim(chargers=1, meter_interval=0.25, session_minutes=(0.02, 0.02))  # 1.2 s sessions
    await booted(peer, "CP000001")
    assert (await peer.call("CP000001", "RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 2}))["status"] == (
        "Accepted"
    )
    await peer.wait_for(lambda: peer.messages("CP000001", "StopTransaction"), timeout=4)
    c2 = lambda: [
        m.payload["status"] for m in peer.messages("CP000001", "StatusNotification") if m.payload["connectorId"] == 2
    ]  # noqa: E731
    await peer.wait_for(lambda: len(c2()) >= 3)
    assert c2() == ["Available", "Charging", "Available"]
    tx = [m for m in peer.messages("CP000001") if m.action in ("StartTransaction", "MeterValues", "StopTransaction")]
    assert tx[0].action == "StartTransaction" and tx[-1].action == "StopTransaction"
    assert {m.action for m in tx[1:-1]} == {"MeterValues"} and len(tx) >= 5
    start = tx[0].payload
    assert start["connectorId"] == 2 and start["idTag"] == "TAG1"
    tid = peer.transactions[("CP000001", 2, "TAG1", start["meterStart"], start["timestamp"])]
    assert all(m.payload["transactionId"] == tid for m in tx[1:])
    readings = [int(m.payload["meterValue"][0]["sampledValue"][0]["value"]) for m in tx[1:-1]]
    assert readings == sorted(readings) and tx[-1].payload["meterStop"] >= readings[-1]
    await peer.wait_for(lambda: w.stats.tx_queued == 0)
    w.ledger.flush()
    summary = ledger.summarise(str(tmp_path / "ledger"))
    assert (summary.started, summary.acknowledged, summary.pending) == (1, 1, 0)
    assert summary.by_kind["meter"] == {"acknowledged": len(tx) - 2}
    assert summary.acknowledged_stops == [
        {"charger": "CP000001", "transaction_id": tid, "timestamp": tx[-1].payload["timestamp"],
         "meter_stop": tx[-1].payload["meterStop"]}
    ]
    assert len(summary.acknowledged_samples) == len(tx) - 2  # every sample, with the value sent
    assert not peer.invalid


async def test_sessions_arrive_at_the_configured_rate_and_authorize_first(sim: MakeSim, peer: Peer) -> None:  # noqa: F811
    await sim(chargers=3, session_rate=3600 * 4, session_minutes=(0.01, 0.01), meter_interval=10)
    await peer.wait_for(lambda: len(peer.messages(action="StopTransaction")) >= 3, timeout=6)
    for cp in {m.charger for m in peer.messages(action="StartTransaction")}:
        actions = [a for a in peer.actions(cp) if a in ("Authorize", "StartTransaction")]
        assert actions[0] == "Authorize"
        authorized = {m.payload["idTag"] for m in peer.messages(cp, "Authorize")}
        assert {m.payload["idTag"] for m in peer.messages(cp, "StartTransaction")} <= authorized


async def test_every_central_initiated_call_is_answered(sim: MakeSim, peer: Peer) -> None:  # noqa: F811
    w = await sim(chargers=1, connectors=2, meter_interval=30)
    await booted(peer, "CP000001")
    cp = "CP000001"

    conf = await peer.call(cp, "GetConfiguration", {"key": ["HeartbeatInterval", "NumberOfConnectors", "Nope"]})
    assert {k["key"]: k["value"] for k in conf["configurationKey"]} == {
        "HeartbeatInterval": "60",
        "NumberOfConnectors": "2",
    }
    assert conf["unknownKey"] == ["Nope"]
    every = {k["key"] for k in (await peer.call(cp, "GetConfiguration", {}))["configurationKey"]}
    assert {"HeartbeatInterval", "MeterValueSampleInterval", "TransactionMessageAttempts",
            "TransactionMessageRetryInterval"} <= every  # fmt: skip

    change = lambda k, v: peer.call(cp, "ChangeConfiguration", {"key": k, "value": v})  # noqa: E731
    assert (await change("TransactionMessageAttempts", "5"))["status"] == "Accepted"
    assert (await change("NumberOfConnectors", "4"))["status"] == "Rejected"
    assert (await change("NoSuchKey", "1"))["status"] == "NotSupported"
    assert (await change("HeartbeatInterval", "abc"))["status"] == "Rejected"
    conf = await peer.call(cp, "GetConfiguration", {"key": ["TransactionMessageAttempts"]})
    assert conf["configurationKey"][0]["value"] == "5"
    n = len(peer.messages(cp, "Heartbeat"))
    assert (await change("HeartbeatInterval", "1"))["status"] == "Accepted"
    await peer.wait_for(lambda: len(peer.messages(cp, "Heartbeat")) > n, timeout=2.5)

    for what in ("Heartbeat", "StatusNotification", "MeterValues", "BootNotification", "FirmwareStatusNotification"):
        before = len(peer.messages(cp, what))
        assert (await peer.call(cp, "TriggerMessage", {"requestedMessage": what, "connectorId": 1}))[
            "status"
        ] == "Accepted"
        await peer.wait_for(lambda: len(peer.messages(cp, what)) > before)
    assert peer.messages(cp, "StatusNotification")[-1].payload["connectorId"] == 1

    dt_ok = await peer.call(cp, "DataTransfer", {"vendorId": "envctl", "messageId": "echo", "data": "hi"})
    assert dt_ok == {"status": "Accepted", "data": "hi"}
    assert (await peer.call(cp, "DataTransfer", {"vendorId": "acme"}))["status"] == "UnknownVendorId"

    assert (await peer.call(cp, "RemoteStartTransaction", {"idTag": "T1", "connectorId": 1}))["status"] == "Accepted"
    assert (await peer.call(cp, "RemoteStartTransaction", {"idTag": "T2", "connectorId": 1}))["status"] == "Rejected"
    await peer.wait_for(lambda: peer.messages(cp, "StartTransaction"))
    await peer.wait_for(lambda: w.chargers[0].connectors[0].transaction_id)  # type: ignore[union-attr]
    tid = w.chargers[0].connectors[0].transaction_id  # type: ignore[union-attr]
    assert (await peer.call(cp, "RemoteStopTransaction", {"transactionId": tid + 100}))["status"] == "Rejected"
    assert (await peer.call(cp, "RemoteStopTransaction", {"transactionId": tid}))["status"] == "Accepted"
    await peer.wait_for(lambda: peer.messages(cp, "StopTransaction"))
    assert peer.messages(cp, "StopTransaction")[0].payload["reason"] == "Remote"

    # A Reset is answered, then the charger reconnects and boots again.
    boots = len(peer.messages(cp, "BootNotification"))
    assert (await peer.call(cp, "Reset", {"type": "Soft"}))["status"] == "Accepted"
    await peer.wait_for(lambda: len(peer.messages(cp, "BootNotification")) > boots, timeout=3)
    assert len(peer.connects) == 2

    # Not supported / unknown / malformed requests become the right CALLERRORs.
    # (a charger-initiated action sent to the charger: known to 1.6, not the charger's to answer)
    err = await peer.next_raw_answer(cp, '[2,"x1","Heartbeat",{}]')
    assert err[:3] == [4, "x1", "NotSupported"]
    err = await peer.next_raw_answer(cp, '[2,"x2","MakeCoffee",{}]')
    assert err[:3] == [4, "x2", "NotImplemented"]
    err = await peer.next_raw_answer(cp, '[2,"x3","Reset",{"type":"Sideways"}]')
    assert err[:3] == [4, "x3", "PropertyConstraintViolation"]
    err = await peer.next_raw_answer(cp, '[2,"x4","RemoteStartTransaction",{}]')
    assert err[:3] == [4, "x4", "OccurenceConstraintViolation"]
    assert not peer.invalid


async def test_immediate_policy_reconnects_at_once_backoff_waits(sim: MakeSim, peer: Peer) -> None:  # noqa: F811
    await sim(chargers=2, id_pattern="IM{n}", reconnect="immediate")
    await sim(chargers=2, id_pattern="BO{n}", reconnect="backoff", backoff_min=1.0, backoff_max=8.0)
    for cp in ("IM1", "IM2", "BO1", "BO2"):
        await booted(peer, cp)
    dropped_at = time.monotonic()
    for cp in ("IM1", "IM2", "BO1", "BO2"):
        await peer.drop(cp)
    await peer.wait_for(lambda: all(len([c for c in peer.connects if c[0] == cp]) == 2 for cp in ("IM1", "BO1", "BO2")))
    again = {cp: max(t for c, t, _ in peer.connects if c == cp) - dropped_at for cp in ("IM1", "IM2", "BO1", "BO2")}
    assert again["IM1"] < 0.3 and again["IM2"] < 0.3
    assert 0.45 < again["BO1"] < 1.3 and 0.45 < again["BO2"] < 1.3


async def test_failed_connects_are_counted_and_retried_fixed_or_doubling(sim: MakeSim, peer: Peer) -> None:  # noqa: F811
    peer.refuse = True
    im = await sim(chargers=1, id_pattern="IM{n}", reconnect="immediate", backoff_min=0.3)
    bo = await sim(chargers=1, id_pattern="BO{n}", reconnect="backoff", backoff_min=0.2, backoff_max=10)
    started = time.monotonic()
    await peer.wait_for(lambda: bo.stats.connect_failures_total >= 4, timeout=6)
    elapsed = time.monotonic() - started
    # backoff: waits of ~0.1-0.2, 0.2-0.4, 0.4-0.8 s between the first four attempts
    assert 0.7 < elapsed < 1.8
    assert 2 <= im.stats.connect_failures_total <= elapsed / 0.3 + 1.5
    peer.refuse = False
    await booted(peer, "IM1")
    assert im.stats.connects_total == 1 and im.stats.never_connected == 0
