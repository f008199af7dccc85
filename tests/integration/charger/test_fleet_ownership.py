"""One charger, one connection, one owner, across 2 and 3 real replicas, on SQLite and a real Postgres.

What a user of a scaled-out charger-server would notice: a charger with two live connections, a
call through the environment's admin endpoint answered 404 for a charger that is connected (to
another replica), a transaction that cannot be stopped where the charger is now, or a history
that two racing connections left inconsistent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from envctl.charger.store import open_store
from tests.integration.charger.conftest import boot, charger, ocpp_call
from tests.integration.charger.fleet import accepting, fleet, send, start_payload

pytestmark = pytest.mark.timeout(120)



@pytest.fixture(params=[2, 3], ids=["2-replicas", "3-replicas"])
def replicas(request: pytest.FixtureRequest) -> int:
    return int(request.param)


async def connected_state(f: Any, via: int, charger_id: str) -> dict[str, Any]:
    """GET the charger through replica `via` once its new connection's claim is committed (the
    connection does not wait for its claim, so for a few milliseconds it is found nowhere)."""
    deadline = time.monotonic() + 5
    while True:
        r = await f.aadmin(via, "GET", f"/admin/chargers/{charger_id}")
        if r.status_code == 200 or time.monotonic() > deadline:
            assert r.status_code == 200, r.text
            return r.json()  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)


async def _rows(url: str, charger_id: str) -> list[dict[str, Any]]:
    st = await open_store(url)
    try:
        return await st.list_transactions(charger_id)
    finally:
        await st.close()


async def test_a_newer_connection_on_another_replica_closes_the_older_within_a_second(
    tmp_path: Path, database_url: str, replicas: int
) -> None:
    with fleet(tmp_path, replicas, database_url) as f:
        async with contextlib.AsyncExitStack() as stack:
            held = await stack.enter_async_context(charger(f[0].ocpp_url("CP1")))
            await boot(held)
            for i in range(1, replicas):  # the charger hops r1 -> r2 (-> r3), never closing its old link
                newer = await stack.enter_async_context(charger(f[i].ocpp_url("CP1")))
                opened = time.monotonic()
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(held.recv(), 5)
                assert time.monotonic() - opened < 1.0, "the older connection lingered"
                assert held.close_code == 1000 and "superseded" in (held.close_reason or "")
                await boot(newer)  # the newer one carries on (its claim committed before its boot)
                state = (await f.aadmin(0, "GET", "/admin/chargers/CP1")).json()
                assert state["connected"] is True and state["replica_id"] == f"r{i + 1}"
                held = newer
            connected = [f.stats(i)["connections"] for i in range(replicas)]
            assert connected == [0] * (replicas - 1) + [1], "one charger, one live connection"
            assert sum(f.stats(i)["taken_over_total"] for i in range(replicas)) == replicas - 1


async def test_a_call_through_any_replica_reaches_the_charger_wherever_it_is(
    tmp_path: Path, database_url: str, replicas: int
) -> None:
    with fleet(tmp_path, replicas, database_url) as f:
        async with contextlib.AsyncExitStack() as stack:
            home: dict[str, int] = {}
            seen: dict[str, list[Any]] = {}
            for n in range(3 * replicas):
                cid, i = f"CP{n}", n % replicas
                ws = await stack.enter_async_context(charger(f[i].ocpp_url(cid)))
                await boot(ws)
                seen[cid] = await stack.enter_async_context(accepting(ws))
                home[cid] = i
            for via in range(replicas):
                for cid, i in home.items():
                    r = await f.aadmin(via, "POST", f"/admin/chargers/{cid}/call",
                                       json={"action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}})
                    assert r.status_code == 200, (via, cid, r.text)
                    assert r.json() == {"status": "Accepted"}  # the charger's own answer
                    assert r.headers["X-Envctl-Replica"] == f"r{i + 1}"
            assert all(len(calls) == replicas for calls in seen.values())  # each charger got every call
            forwarded = sum(f.stats(i)["forwarded_total"] for i in range(replicas))
            assert forwarded == 3 * replicas * (replicas - 1)


async def test_a_transaction_started_on_one_replica_is_stopped_on_another(
    tmp_path: Path, database_url: str, replicas: int
) -> None:
    with fleet(tmp_path, replicas, database_url) as f:
        async with charger(f[0].ocpp_url("CP1")) as first:
            await boot(first)
            started = await ocpp_call(first, "StartTransaction", start_payload(100, connector=2))
            tx = started[2]["transactionId"]
            await ocpp_call(first, "StatusNotification", {"connectorId": 2, "errorCode": "NoError", "status": "Charging"})
        await asyncio.sleep(1.5)  # the status is a lazy write
        last = replicas - 1
        async with charger(f[last].ocpp_url("CP1")) as moved:  # it reconnects elsewhere, without rebooting
            await ocpp_call(moved, "Heartbeat", {})
            state = await connected_state(f, 0, "CP1")  # asked anywhere
            assert state["replica_id"] == f"r{last + 1}" and state["boot"]["chargePointModel"] == "test-1"
            assert state["open_transactions"][str(tx)]["meterStart"] == 100
            assert state["connectors"]["2"]["status"] == "Charging"
            stop = await ocpp_call(moved, "StopTransaction", {
                "transactionId": tx, "meterStop": 180, "timestamp": "2024-05-01T11:00:00Z", "idTag": "TAG",
                "transactionData": [{"timestamp": "2024-05-01T10:30:00Z",
                                     "sampledValue": [{"value": "140", "unit": "Wh"}]}]})
            assert stop[0] == 3 and stop[2]["idTagInfo"]["status"] == "Accepted"
            after = (await f.aadmin(0, "GET", "/admin/chargers/CP1")).json()
            assert after["open_transactions"] == {}
        [row] = await _rows(f.database_url, "CP1")
        assert (row["id"], row["meter_start"], row["meter_stop"], row["epoch"], row["stop_epoch"]) == (tx, 100, 180, 1, 2)
        st = await open_store(f.database_url)
        try:
            [sample] = await st.list_meter_values()
        finally:
            await st.close()
        assert (sample["connector_id"], sample["value"], sample["transaction_id"]) == (2, "140", tx)


async def test_two_connections_racing_writes_for_one_charger_leave_one_consistent_history(
    tmp_path: Path, database_url: str, replicas: int
) -> None:
    """The old link keeps writing while the charger's new link on another replica takes over."""
    with fleet(tmp_path, replicas, database_url) as f:
        acked: dict[str, list[int]] = {"old": [], "new": []}  # meterStart of acknowledged starts
        sent: dict[str, list[int]] = {"old": [], "new": []}

        async def hammer(ws: Any, who: str, first: int, stop: asyncio.Event) -> None:
            n = first
            with contextlib.suppress(ConnectionClosed, asyncio.TimeoutError):
                while not stop.is_set():
                    sent[who].append(n)
                    uid = await send(ws, "StartTransaction", start_payload(n))
                    frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
                    assert frame[1] == uid and frame[0] == 3, frame
                    acked[who].append(n)
                    n += 1

        async with charger(f[0].ocpp_url("CP1")) as old:
            await boot(old)
            stop = asyncio.Event()
            old_task = asyncio.create_task(hammer(old, "old", 0, stop))
            await asyncio.sleep(0.5)
            async with charger(f[replicas - 1].ocpp_url("CP1")) as new:
                new_task = asyncio.create_task(hammer(new, "new", 100_000, stop))
                await asyncio.sleep(1.5)
                stop.set()
                await asyncio.gather(old_task, new_task)
                assert old.close_code == 1000, "the superseded link was closed"
                if database_url.startswith("sqlite"):  # the takeover log is polled: writes meet the fence first
                    assert f.stats(0)["superseded_writes_total"] >= 1
        rows = await _rows(f.database_url, "CP1")
        stored = {r["meter_start"]: r for r in rows}
        assert acked["old"] and acked["new"], acked
        # every acknowledged start is stored; nothing is stored that was never sent
        assert set(acked["old"]) | set(acked["new"]) <= set(stored)
        assert set(stored) <= set(sent["old"]) | set(sent["new"])
        # one history: in commit order, the old link's rows all come before the new link's
        epochs = [r["epoch"] for r in sorted(rows, key=lambda r: r["id"])]
        assert epochs == sorted(epochs) and set(epochs) == {1, 2}, epochs
        old_rows = [m for m, r in stored.items() if r["epoch"] == 1]
        assert set(old_rows) <= set(sent["old"]) and all(m < 100_000 for m in old_rows)
