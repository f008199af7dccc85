"""A backend killed with kill -9: its chargers are re-homed at the budget and never reconnect;
a CALL that was in flight to the dead backend is not answered by the edge (docs/edge.md)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from tests.integration.edge.chargers import BOOT, Charger, charger

pytestmark = pytest.mark.timeout(120)

CHARGERS = 10
BUDGET = 5.0


async def test_kill_9_of_a_backend_rehomes_its_chargers_at_the_budget_without_a_reconnect(
    start_backend: Any, start_edge: Any
) -> None:
    a, b = start_backend("a"), start_backend("b")
    edge = start_edge(a, args=("--budget", str(BUDGET)))
    async with contextlib.AsyncExitStack() as stack:
        chargers: list[Charger] = []
        for i in range(CHARGERS):
            c = await stack.enter_async_context(charger(edge.url(f"CP{i}"), f"CP{i}"))
            assert (await c.call("BootNotification", BOOT))[0] == 3
            chargers.append(c)
        assert edge.admin("POST", "/admin/backends", json={"id": "b", "url": b.url, "version": "v2"}).status_code == 201
        assert edge.connections() == {"a": CHARGERS, "b": 0}

        in_flight = None
        if a.kind == "ocpp":  # a CALL the backend will never answer: it dies holding it
            in_flight = asyncio.create_task(chargers[0].call("DataTransfer", {"vendorId": "test", "data": "slow:30"}, timeout=4))
            await asyncio.sleep(0.2)

        killed_at = time.monotonic()
        a.kill()
        # The chargers keep talking while they wait: their frames are held, then delivered.
        talking = [asyncio.create_task(c.call("Heartbeat", {}, timeout=20)) for c in chargers[1:]]
        stats = await edge.wait_for(lambda s: s["rehomed_total"] >= CHARGERS, timeout=30, what="every charger re-homed")
        took = time.monotonic() - killed_at
        for answer in await asyncio.gather(*talking):
            assert answer[0] == 3, answer

        assert all(c.closed is None for c in chargers), "a charger saw its connection close"
        assert stats["connects_total"] == CHARGERS, "a charger had to reconnect"
        assert edge.connections() == {"a": 0, "b": CHARGERS}
        assert [x["state"] for x in stats["backends"]] == ["down", "up"]
        # At the budget: 10 moves at 5/s take about 2 s, never more than 5 (+1 for a boundary) in a second.
        assert took >= (CHARGERS - 1) / BUDGET - 0.1, f"re-homed in {took:.2f}s: faster than the budget allows"
        assert max(n for _, n in stats["moves_per_second"]) <= BUDGET + 1, stats["moves_per_second"]
        for c in chargers:
            assert (await c.call("Heartbeat", {}))[0] == 3
        if in_flight is not None:
            # Never answered with a result the backend did not give: the charger's own timeout runs.
            with pytest.raises(asyncio.TimeoutError):
                await in_flight
            assert not [f for f in chargers[0].answers() if f[1] == chargers[0].sent[1][1]]
            assert chargers[0].closed is None
            assert b.received("CP0")[-1][2] == "Heartbeat", "the dead backend's CALL was replayed to the new one"


async def test_a_backends_401_reaches_the_charger_as_its_own_401(start_backend: Any, start_edge: Any) -> None:
    from websockets.exceptions import InvalidStatus

    a = start_backend("a", password="s3cret-pass")
    edge = start_edge(a)
    with pytest.raises(InvalidStatus) as refused:
        async with charger(edge.url("CP1"), "CP1", additional_headers={"Authorization": _basic("CP1", "wrong")}):
            pass
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers.get("WWW-Authenticate", "").startswith("Basic")
    assert edge.stats()["connections"] == 0
    async with charger(edge.url("CP1"), "CP1", additional_headers={"Authorization": _basic("CP1", "s3cret-pass")}) as c:
        assert (await c.call("BootNotification", BOOT))[0] == 3
        assert c.ws.subprotocol == "ocpp1.6"


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("backend_kind", ["envctl"])
async def test_a_backend_shutting_down_gracefully_hands_its_chargers_over(start_backend: Any, start_edge: Any) -> None:
    """envctl's server closes its chargers with 1001 on SIGTERM: going away, not the charger's end."""
    a, b = start_backend("a"), start_backend("b")
    edge = start_edge(a, args=("--budget", "50"))
    async with charger(edge.url("CP1"), "CP1") as c1, charger(edge.url("CP2"), "CP2") as c2:
        for c in (c1, c2):
            await c.call("BootNotification", BOOT)
        assert edge.admin("POST", "/admin/backends", json={"id": "b", "url": b.url}).status_code == 201
        assert a.server is not None
        assert a.server.terminate() == 0
        await edge.wait_for(lambda s: s["rehomed_total"] == 2, what="both chargers re-homed")
        for c in (c1, c2):
            assert (await c.call("Heartbeat", {}))[0] == 3
            assert c.closed is None
        assert edge.connections() == {"a": 0, "b": 2}


@pytest.mark.parametrize("backend_kind", ["envctl"])
async def test_a_backend_that_comes_back_takes_its_chargers_back(start_backend: Any, start_edge: Any) -> None:
    """One backend, and it drops a charger with 1012 (its admin disconnect): the edge waits for it
    to answer again and re-homes the charger there; the charger never notices."""
    a = start_backend("a")
    edge = start_edge(a)
    async with charger(edge.url("CP1"), "CP1") as c:
        await c.call("BootNotification", BOOT)
        assert a.server is not None
        r = a.server.admin("POST", "/admin/disconnect", json={"count": 1})
        assert r.status_code == 200 and r.json()["closed"] == 1
        answer = await c.call("Heartbeat", {}, timeout=15)  # held until the charger has a backend again
        assert answer[0] == 3
        assert c.closed is None
        stats = edge.stats()
        assert stats["rehomed_total"] == 1 and stats["connects_total"] == 1
        assert edge.connections() == {"a": 1}


@pytest.mark.parametrize("backend_kind", ["ocpp"])
async def test_a_close_the_backend_meant_for_the_charger_reaches_it(start_backend: Any, start_edge: Any) -> None:
    a, b = start_backend("a"), start_backend("b")
    edge = start_edge(a, b)
    async with charger(edge.url("CP1"), "CP1") as c:
        await c.call("DataTransfer", {"vendorId": "test", "data": "close:4001"})
        for _ in range(100):
            if c.closed is not None:
                break
            await asyncio.sleep(0.05)
        assert c.closed is not None and c.closed.rcvd is not None and c.closed.rcvd.code == 4001
    stats = edge.stats()
    assert stats["rehomed_total"] == 0 and stats["connections"] == 0


@pytest.mark.parametrize("backend_kind", ["ocpp"])
async def test_the_answer_to_a_dead_backends_call_goes_to_no_other_backend(start_backend: Any, start_edge: Any) -> None:
    a, b = start_backend("a"), start_backend("b")
    edge = start_edge(a)
    async with charger(edge.url("CP1"), "CP1") as c:
        await c.call("BootNotification", BOOT)
        assert edge.admin("POST", "/admin/backends", json={"id": "b", "url": b.url}).status_code == 201
        c.answer_delay = 1.5  # the charger is still working on the backend's CALL when the backend dies
        await c.call("DataTransfer", {"vendorId": "test", "data": "call-me:1"})
        while not c.backend_calls:
            await asyncio.sleep(0.01)
        a.kill()
        await edge.wait_for(lambda s: s["rehomed_total"] == 1, what="the charger re-homed")
        await asyncio.sleep(1.7)  # the charger's late answer has been sent by now
        assert (await c.call("Heartbeat", {}))[0] == 3
        late = c.backend_calls[0][1]
        assert [f for f in c.sent if f[1] == late], "the charger did answer"
        assert not [f for f in b.received("CP1") if f[1] == late], "an answer reached a backend that never asked"
        assert c.closed is None
