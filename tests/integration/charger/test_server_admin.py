"""The admin HTTP API over real sockets: health, readiness, metrics, stats, drain, listen, disconnect, calls."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from envctl.charger.protocol.frames import MessageIds
from envctl.charger.server.app import CentralSystem
from tests.integration.charger.conftest import answering, boot, charger, ocpp_call, result, running_server

pytestmark = pytest.mark.timeout(30)


async def test_health_ready_stats_and_metrics(central_system: CentralSystem) -> None:
    async with httpx.AsyncClient(base_url=central_system.admin_url) as http, charger(central_system.ocpp_url("CP1")) as ws:
        await boot(ws)
        await ws.send("garbage")
        await ws.recv()
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        stats = (await http.get("/admin/stats")).json()
        for key in ("connections", "draining", "accepting", "version", "replica_id", "pid", "connects_total",
                    "disconnects_total", "callerrors_total", "messages_total", "handler_p99_ms", "drain"):
            assert key in stats, key
        assert stats["connections"] == 1 and stats["version"] == "test" and stats["accepting"] is True
        assert stats["messages_total"] >= 1 and stats["callerrors_total"] == 1 and stats["handler_p99_ms"] >= 0
        text = (await http.get("/metrics")).text
        assert "envctl_ocpp_connected_chargers 1.0" in text
        assert 'envctl_ocpp_messages_total{action="BootNotification"} 1.0' in text
        assert 'envctl_ocpp_callerrors_total{code="FormationViolation"} 1.0' in text
        assert 'envctl_ocpp_handler_seconds_bucket{action="BootNotification",le="+Inf"} 1.0' in text
        assert "envctl_ocpp_connects_total 1.0" in text
        assert "envctl_db_commit_seconds_count" in text
        chargers = (await http.get("/admin/chargers")).json()
        assert chargers == {"count": 1, "chargers": ["CP1"]}


async def test_central_initiated_calls_return_the_chargers_answer(tmp_path: Path) -> None:
    async with running_server(tmp_path, message_ids=lambda cid: MessageIds(f"srv-{cid}")) as cs, \
            httpx.AsyncClient(base_url=cs.admin_url) as http, charger(cs.ocpp_url("CP1")) as ws:
        await boot(ws)
        async with answering(ws, result({"status": "Accepted"})) as seen:
            for action, payload in [
                ("RemoteStartTransaction", {"idTag": "TAG", "connectorId": 1}),
                ("RemoteStopTransaction", {"transactionId": 7}),
                ("Reset", {"type": "Soft"}),
                ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}),
                ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
                ("DataTransfer", {"vendorId": "acme"}),
            ]:
                r = await http.post("/admin/chargers/CP1/call", json={"action": action, "payload": payload})
                assert r.status_code == 200, (action, r.text)
                assert r.json() == {"status": "Accepted"}
            assert [f[1] for f in seen] == [f"srv-CP1-{i}" for i in range(1, 7)]  # injected ids, in order
            assert [f[2] for f in seen][:2] == ["RemoteStartTransaction", "RemoteStopTransaction"]
        config = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]}
        async with answering(ws, result(config)):
            r = await http.post("/admin/chargers/CP1/call", json={"action": "GetConfiguration", "payload": {}})
            assert r.status_code == 200 and r.json() == config


async def test_call_errors_map_to_http_statuses(central_system: CentralSystem) -> None:
    cs = central_system
    async with httpx.AsyncClient(base_url=cs.admin_url) as http:
        r = await http.post("/admin/chargers/NOPE/call", json={"action": "Reset", "payload": {"type": "Soft"}})
        assert r.status_code == 404
        async with charger(cs.ocpp_url("CP1")) as ws:
            bad = await http.post("/admin/chargers/CP1/call", json={"action": "Reset", "payload": {"type": "Gentle"}})
            assert bad.status_code == 422 and bad.json()["code"] == "PropertyConstraintViolation"
            unknown = await http.post("/admin/chargers/CP1/call", json={"action": "Explode", "payload": {}})
            assert unknown.status_code == 422
            refuse = lambda f: orjson.dumps([4, f[1], "NotSupported", "no resets here", {}]).decode()  # noqa: E731
            async with answering(ws, refuse):
                r = await http.post("/admin/chargers/CP1/call", json={"action": "Reset", "payload": {"type": "Hard"}})
                assert r.status_code == 502
                assert r.json()["code"] == "NotSupported" and r.json()["description"] == "no resets here"
            async with answering(ws, result({"status": "Maybe"})):  # answer breaks the schema
                r = await http.post("/admin/chargers/CP1/call", json={"action": "Reset", "payload": {"type": "Hard"}})
                assert r.status_code == 502
            async with answering(ws, lambda f: None):
                started = time.monotonic()
                r = await http.post("/admin/chargers/CP1/call",
                                    json={"action": "Reset", "payload": {"type": "Hard"}, "timeout_s": 0.3})
                assert r.status_code == 504 and time.monotonic() - started < 3


async def test_one_outstanding_call_per_connection(central_system: CentralSystem) -> None:
    cs = central_system
    async with charger(cs.ocpp_url("CP1")) as ws:
        conn = cs.registry.get("CP1")
        assert conn is not None
        calls = [asyncio.create_task(conn.call("Reset", {"type": "Soft"}, 5)) for _ in range(3)]
        first = orjson.loads(await ws.recv())
        with pytest.raises(TimeoutError):  # the second CALL waits for the first answer
            await asyncio.wait_for(ws.recv(), 0.3)
        await ws.send(orjson.dumps([3, first[1], {"status": "Accepted"}]).decode())
        for _ in range(2):
            nxt = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send(orjson.dumps([3, nxt[1], {"status": "Rejected"}]).decode())
        answers = await asyncio.gather(*calls)
        assert sorted(a["status"] for a in answers) == ["Accepted", "Rejected", "Rejected"]


async def test_call_timeout_default_comes_from_config(tmp_path: Path) -> None:
    async with running_server(tmp_path, call_timeout=0.3) as cs, httpx.AsyncClient(base_url=cs.admin_url) as http, \
            charger(cs.ocpp_url("CP1")):
        r = await http.post("/admin/chargers/CP1/call", json={"action": "Reset", "payload": {"type": "Hard"}})
        assert r.status_code == 504


async def test_drain_closes_with_1012_at_the_requested_pace(central_system: CentralSystem) -> None:
    cs = central_system
    n, rate = 20, 20.0
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(charger(cs.ocpp_url(f"CP{i}"))) for i in range(n)]
        closed_at: dict[int, float] = {}

        async def watch(i: int, ws: ClientConnection) -> None:
            with contextlib.suppress(ConnectionClosed):
                await ws.recv()
            closed_at[i] = time.monotonic()

        watchers = [asyncio.create_task(watch(i, ws)) for i, ws in enumerate(clients)]
        async with httpx.AsyncClient(base_url=cs.admin_url) as http:
            started = time.monotonic()
            r = await http.post("/admin/drain", json={"rate_per_s": rate})
            assert r.status_code == 202 and r.json()["drain"]["active"] is True
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["reason"] == "draining"
            with pytest.raises(OSError):  # the listener is closed: new chargers go elsewhere
                async with charger(cs.ocpp_url("NEW")):
                    pass
            mid = (await http.get("/admin/stats")).json()
            assert mid["draining"] is True and mid["accepting"] is False
            await asyncio.wait_for(asyncio.gather(*watchers), 10)
            duration = max(closed_at.values()) - started
            # n closes at `rate` per second: the last one about (n-1)/rate after the first
            assert 0.6 * (n - 1) / rate <= duration <= 2.5 * (n - 1) / rate + 0.5, duration
            assert all(ws.close_code == 1012 for ws in clients)
            # oldest first
            order = sorted(closed_at, key=closed_at.__getitem__)
            assert order[:5] == sorted(order[:5])
            await asyncio.sleep(0.15)
            done = (await http.get("/admin/stats")).json()["drain"]
            assert done["done"] is True and done["closed"] == n and done["remaining"] == 0
            assert done["total_at_start"] == n
            r = await http.post("/admin/drain", json={"rate_per_s": 0})
            assert r.status_code == 422


async def test_listen_toggles_new_connections_only(central_system: CentralSystem) -> None:
    cs = central_system
    async with httpx.AsyncClient(base_url=cs.admin_url) as http, charger(cs.ocpp_url("OLD")) as old:
        r = await http.post("/admin/listen", json={"accepting": False})
        assert r.json() == {"accepting": False}
        assert (await http.get("/readyz")).status_code == 503
        with pytest.raises(OSError):
            async with charger(cs.ocpp_url("NEW")):
                pass
        assert (await ocpp_call(old, "Heartbeat", {}))[0] == 3  # existing connection untouched
        r = await http.post("/admin/listen", json={"accepting": True})
        assert r.json() == {"accepting": True}
        assert (await http.get("/readyz")).status_code == 200
        async with charger(cs.ocpp_url("NEW")) as new:
            assert (await ocpp_call(new, "Heartbeat", {}))[0] == 3
        assert (await http.post("/admin/listen", json={"accepting": "yes"})).status_code == 422


async def test_disconnect_closes_the_oldest_n_with_1012(central_system: CentralSystem) -> None:
    cs = central_system
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(base_url=cs.admin_url) as http:
        clients = []
        for i in range(5):
            clients.append(await stack.enter_async_context(charger(cs.ocpp_url(f"CP{i}"))))
            await ocpp_call(clients[-1], "Heartbeat", {})  # registered, in this order
        r = await http.post("/admin/disconnect", json={"count": 3})
        assert r.json() == {"closed": 3, "remaining": 2}
        for ws in clients[:3]:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1012
        assert (await ocpp_call(clients[3], "Heartbeat", {}))[0] == 3
        r = await http.post("/admin/disconnect", json={"count": 10})
        assert r.json() == {"closed": 2, "remaining": 0}
        assert (await http.post("/admin/disconnect", json={"count": -1})).status_code == 422
        assert (await http.get("/readyz")).status_code == 200  # disconnecting is not draining


async def test_charger_state_endpoint(central_system: CentralSystem) -> None:
    async with httpx.AsyncClient(base_url=central_system.admin_url) as http, charger(central_system.ocpp_url("CP1")) as ws:
        await boot(ws)
        body = (await http.get("/admin/chargers/CP1")).json()
        assert body["connected"] is True and body["boot"]["chargePointVendor"] == "envctl"
        assert (await http.get("/admin/chargers/NEVER")).status_code == 404
