"""What guards a replica: the admin token, admission control, 404s that say where a charger was,
StopTransactions naming another charger's transaction. Real sockets, in-process servers."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from envctl.charger.server.admission import Admission
from tests.integration.charger.conftest import boot, charger, ocpp_call, running_server
from tests.integration.charger.fleet import TOKEN, start_payload

pytestmark = pytest.mark.timeout(60)


async def test_mutating_endpoints_need_the_admin_token_reads_do_not(tmp_path: Path) -> None:
    async with running_server(tmp_path, admin_token=TOKEN) as cs, httpx.AsyncClient(base_url=cs.admin_url) as http:
        for path, body in [("/admin/drain", {"rate_per_s": 1}), ("/admin/listen", {"accepting": True}),
                           ("/admin/disconnect", {"count": 0}),
                           ("/admin/chargers/CP1/call", {"action": "Reset", "payload": {"type": "Soft"}})]:
            missing = await http.post(path, json=body)
            wrong = await http.post(path, json=body, headers={"Authorization": "Bearer not-the-token-at-all"})
            assert (missing.status_code, wrong.status_code) == (401, 403), path
            assert "ENVCTL_ADMIN_TOKEN" in missing.json()["error"]
        assert cs.listener.accepting and not cs.drainer.draining  # nothing was done
        ok = await http.post("/admin/disconnect", json={"count": 0}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        # through the Kubernetes API server's pod proxy, which drops Authorization
        proxied = await http.post("/admin/disconnect", json={"count": 0}, headers={"X-Envctl-Admin-Token": TOKEN})
        wrong = await http.post("/admin/disconnect", json={"count": 0}, headers={"X-Envctl-Admin-Token": "nope-nope"})
        assert (proxied.status_code, wrong.status_code) == (200, 403)
        for path in ("/healthz", "/readyz", "/metrics", "/admin/stats", "/admin/chargers"):
            assert (await http.get(path)).status_code == 200, path


async def test_not_connected_anywhere_is_404_saying_where_and_when_it_was_last_seen(tmp_path: Path) -> None:
    async with running_server(tmp_path, replica_id="r7") as cs, httpx.AsyncClient(base_url=cs.admin_url) as http:
        never = await http.post("/admin/chargers/NEVER/call", json={"action": "Reset", "payload": {"type": "Soft"}})
        assert never.status_code == 404 and "has never connected" in never.json()["error"]
        async with charger(cs.ocpp_url("CP1")) as ws:
            await boot(ws)
        await asyncio.sleep(1.5)  # the release of its ownership is a lazy write
        gone = await http.post("/admin/chargers/CP1/call", json={"action": "Reset", "payload": {"type": "Soft"}})
        body = gone.json()
        assert gone.status_code == 404 and body["connected"] is False
        assert "not connected to any replica; last seen on replica r7 at 20" in body["error"]
        assert body["last_replica_id"] == "r7" and body["last_disconnected_at"]
        state = await http.get("/admin/chargers/CP1")
        assert state.status_code == 404 and state.json()["stored"]["boot"]["chargePointModel"] == "test-1"


async def test_handshakes_above_the_accept_rate_get_503_with_retry_after_and_no_database_work(tmp_path: Path) -> None:
    async with running_server(tmp_path, max_accept_rate=25) as cs:
        outcomes: list[int | None] = []

        async def one(i: int) -> None:
            try:
                async with charger(cs.ocpp_url(f"CP{i}")) as ws:
                    outcomes.append(None)
                    await boot(ws)
            except InvalidStatus as exc:
                assert exc.response.headers["Retry-After"].isdigit()
                assert int(exc.response.headers["Retry-After"]) >= 1
                outcomes.append(exc.response.status_code)

        await asyncio.gather(*(one(i) for i in range(30)))
        accepted = outcomes.count(None)
        assert 5 <= accepted <= 8 and outcomes.count(503) == 30 - accepted, outcomes  # 0.2 s of 25/s, + refill
        stats = cs.stats()
        assert stats["rejected_handshakes"]["admission"] == 30 - accepted
        assert stats["store"]["claims"] == accepted, "a refused handshake cost the database nothing"
        assert sum(n for _, n in stats["admission_refused_per_second"]) == 30 - accepted
        await asyncio.sleep(1.1)  # a second later the bucket has refilled
        async with charger(cs.ocpp_url("LATER")) as ws:
            await boot(ws)


async def test_admission_bucket_is_a_rate_not_a_saved_up_quota() -> None:
    now = [100.0]
    adm = Admission(100, clock=lambda: now[0])
    assert sum(adm.admit() for _ in range(500)) == 20  # a 0.2 s burst
    assert adm.retry_after() == 5  # 480 refused this second at 100/s
    now[0] += 60  # a long idle minute saves up no more than the burst
    assert sum(adm.admit() for _ in range(500)) == 20
    admitted = 0
    for _ in range(100):  # a storm for one second: the rate, plus the burst at most
        now[0] += 0.01
        admitted += sum(adm.admit() for _ in range(50))
    assert 95 <= admitted <= 120


async def test_stop_naming_another_chargers_transaction_is_answered_but_not_applied(tmp_path: Path) -> None:
    async with running_server(tmp_path) as cs, httpx.AsyncClient(base_url=cs.admin_url) as http:
        async with charger(cs.ocpp_url("OWNER")) as owner, charger(cs.ocpp_url("OTHER")) as other:
            await boot(owner)
            await boot(other)
            tx = (await ocpp_call(owner, "StartTransaction", start_payload(5)))[2]["transactionId"]
            stop = {"transactionId": tx, "meterStop": 99, "timestamp": "2024-05-01T12:00:00Z", "idTag": "TAG"}
            answer = await ocpp_call(other, "StopTransaction", stop)
            assert answer[0] == 3 and answer[2] == {"idTagInfo": {"status": "Accepted"}}  # so firmware stops retrying
            unknown = await ocpp_call(other, "StopTransaction", stop | {"transactionId": 424242})
            assert unknown[0] == 3
            assert cs.store is not None
            [row] = await cs.store.list_transactions("OWNER")
            assert row["meter_stop"] is None, "not applied to the owner's transaction"
            assert cs.stats()["stops_refused"] == {"other_charger": 1, "unknown_transaction": 1}
            metrics = (await http.get("/metrics")).text
            assert 'envctl_ocpp_stops_refused_total{reason="other_charger"} 1.0' in metrics
            assert (await ocpp_call(owner, "StopTransaction", stop))[0] == 3
            [row] = await cs.store.list_transactions("OWNER")
            assert row["meter_stop"] == 99


async def test_a_write_from_a_superseded_connection_gets_no_answer_and_the_link_closes(tmp_path: Path) -> None:
    async with running_server(tmp_path) as a, running_server(tmp_path, replica_id="b", port=0) as b:
        async with charger(a.ocpp_url("CP1")) as old:
            await boot(old)
            async with charger(b.ocpp_url("CP1")) as new:
                await boot(new)  # its claim has committed
                started = time.monotonic()
                with contextlib.suppress(Exception):
                    frame = await ocpp_call(old, "StartTransaction", start_payload(1), timeout=3)
                    pytest.fail(f"the superseded link was answered: {frame}")
                assert time.monotonic() - started < 3 and old.close_code == 1000
        assert a.stats()["superseded_writes_total"] + a.stats()["taken_over_total"] >= 1
        assert a.store is not None and await a.store.list_transactions("CP1") == []


async def test_a_charger_that_cannot_claim_itself_is_disconnected_and_counted(tmp_path: Path) -> None:
    async with running_server(tmp_path) as cs:
        async with charger(cs.ocpp_url("CP1")) as ws:
            await boot(ws)
        db = tmp_path / "server.db"
        with sqlite3.connect(db) as raw:  # the ownership table vanishes behind the server's back
            raw.execute("ALTER TABLE charger_owners RENAME TO charger_owners_gone")
        async with charger(cs.ocpp_url("CP2")) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1000
        assert cs.stats()["claims_failed_total"] == 1
        with sqlite3.connect(db) as raw:
            raw.execute("ALTER TABLE charger_owners_gone RENAME TO charger_owners")
        async with charger(cs.ocpp_url("CP3")) as ws:
            await boot(ws)
        stats = cs.stats()
        assert stats["claims_failed_total"] == 1
        commits = sum(n for _, n in stats["commits_per_second"])
        assert commits == stats["store"]["commits"] and commits >= 3
        assert sum(n for _, n in stats["db_items_per_second"]) == stats["store"]["committed_items"]
