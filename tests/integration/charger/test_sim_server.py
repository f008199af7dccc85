"""The simulator against the real charger-server (in-process, SQLite): sessions, admin-initiated
calls, mass disconnects and refused reconnects, and a ledger that reconciles with the server's
database (nothing lost, nothing duplicated)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from envctl.charger.simulator import ledger
from envctl.charger.simulator.reconcile import reconcile
from envctl.charger.simulator.settings import Shard, SimConfig
from envctl.charger.simulator.worker import Worker
from tests.integration.charger.conftest import running_server

pytestmark = pytest.mark.timeout(40)


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_sessions_survive_disconnects_and_reconcile_with_the_server_database(tmp_path: Path) -> None:
    async with running_server(tmp_path, heartbeat_interval=1) as cs:
        cfg = SimConfig(
            url=f"ws://127.0.0.1:{cs.ocpp_port}/ocpp", chargers=20, session_rate=3600 * 2,
            session_minutes=(0.01, 0.03), meter_interval=0.3, backoff_min=0.2, seed=11,
            ledger_dir=str(tmp_path / "ledger"),
        )  # fmt: skip
        w = Worker(cfg, Shard(0, 0, cfg.chargers))
        w.start()
        admin = httpx.AsyncClient(base_url=cs.admin_url, timeout=10)  # type: ignore[attr-defined]
        try:
            await until(lambda: w.stats.booted == 20)
            call = lambda cid, action, payload: admin.post(  # noqa: E731
                f"/admin/chargers/{cid}/call", json={"action": action, "payload": payload}
            )
            answer = (await call("CP000001", "GetConfiguration", {"key": ["HeartbeatInterval"]})).json()
            assert answer["configurationKey"][0]["value"] == "1"  # the server's BootNotification interval
            assert (await call("CP000002", "TriggerMessage", {"requestedMessage": "Heartbeat"})).json() == {
                "status": "Accepted"
            }
            assert (await call("CP000003", "Reset", {"type": "Hard"})).json() == {"status": "Accepted"}
            await asyncio.sleep(1.0)

            # Every connection dropped at once while sessions run; new connections refused for a while.
            await admin.post("/admin/listen", json={"accepting": False})
            assert (await admin.post("/admin/disconnect", json={"count": 20})).json()["closed"] >= 19
            await until(lambda: w.stats.connected == 0)
            await asyncio.sleep(1.0)
            queued_offline = w.stats.tx_queued
            await admin.post("/admin/listen", json={"accepting": True})
            await until(lambda: w.stats.booted == 20)
            assert w.stats.currently_offline == 0 and w.stats.offline_s.total >= 20 and w.stats.offline_s.max >= 1.0

            # Let the sessions in progress finish and the queues drain, then compare with the DB.
            for cp in w.chargers:
                if cp.arrival_timer is not None:
                    cp.arrival_timer.cancel()
                    cp.arrival_timer = None
            await until(lambda: w.stats.sessions_started == w.stats.sessions_stopped and w.stats.tx_queued == 0, 10)
            w.ledger.flush()
            summary = ledger.summarise(cfg.ledger_dir)  # type: ignore[arg-type]
            server = await cs.store.list_transactions()  # type: ignore[attr-defined]
            rows = [
                {"charger": r["charger_id"], "connector": r["connector_id"], "id_tag": r["id_tag"],
                 "meter_start": r["meter_start"], "timestamp": r["started_at"], "transaction_id": r["id"]}
                for r in server
            ]  # fmt: skip
            result = reconcile(summary, rows)
            assert summary.started >= 20 and summary.pending == 0 and summary.dropped == 0
            assert result["lost"] == 0 and result["duplicated"] == 0 and result["id_mismatch"] == 0
            assert len(server) == summary.started
            stopped = {s["transaction_id"] for s in summary.acknowledged_stops}
            assert (
                stopped == {r["id"] for r in server if r["stopped_at"] is not None} and len(stopped) == summary.started
            )
            assert queued_offline > 0  # the drop hit live sessions
        finally:
            await admin.aclose()
            await w.stop()


async def test_basic_auth_password_is_sent_and_a_wrong_one_counts_as_connect_failures(tmp_path: Path) -> None:
    from envctl.charger.server.auth import hash_password

    secret = hash_password("s3cret", iterations=1000)
    async with running_server(tmp_path, basic_auth={"CP000001": secret, "CP000002": secret}) as cs:
        url = f"ws://127.0.0.1:{cs.ocpp_port}/ocpp"
        good = Worker(SimConfig(url=url, chargers=1, basic_auth_password="s3cret"), Shard(0, 0, 1))
        bad = Worker(
            SimConfig(url=url, chargers=1, id_start=2, basic_auth_password="nope", backoff_min=0.2), Shard(1, 0, 1)
        )
        good.start()
        bad.start()
        try:
            await until(lambda: good.stats.booted == 1 and bad.stats.connect_failures_total >= 2)
            assert bad.stats.connects_total == 0
            assert set(bad.stats.failure_reasons) == {"http_401"}
        finally:
            await good.stop()
            await bad.stop()
