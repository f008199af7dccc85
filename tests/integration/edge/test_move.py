"""Moving a charger between two backends, as the charger sees it: no close, no second handshake,
every frame once and in order both ways; a move waits for an outstanding CALL; a move to a backend
that refuses leaves the charger where it was. Against envctl's server and a central system on the
`ocpp` package (conftest.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.edge.chargers import BOOT, Charger, charger
from tests.integration.edge.conftest import BackendProcess, EdgeProcess

pytestmark = pytest.mark.timeout(120)


async def backend_call(c: Charger, via: BackendProcess, n: int) -> None:
    """Make the backend send the charger a DataTransfer CALL with data 'backend-n'."""
    if via.kind == "ocpp":
        answer = await c.call("DataTransfer", {"vendorId": "test", "data": f"call-me:{n}"})
        assert answer[0] == 3, answer
        return
    for _ in range(50):  # the charger's owner is found through the store: a fresh claim may lag a little
        r = await via.call_charger(c.cid, "DataTransfer", {"vendorId": "test", "data": f"backend-{n}"})
        if r.status_code != 404:
            break
        await asyncio.sleep(0.05)
    assert r.status_code == 200, r.text


def moved(edge: EdgeProcess, n: int = 1) -> Any:
    return edge.wait_for(lambda s: s["moves"]["moved"] >= n, what=f"{n} moves")


def move(edge: EdgeProcess, src: str, dst: str, count: int = 1) -> dict[str, Any]:
    r = edge.admin("POST", "/admin/move", json={"count": count, "from": [src], "to": [dst]})
    assert r.status_code == 202, r.text
    return dict(r.json()["job"])


def messages_seen(b: BackendProcess) -> int:
    assert b.server is not None
    return sum(b.server.admin("GET", "/admin/stats").json()["messages_by_action"].values())


async def test_a_move_mid_conversation_is_invisible_to_the_charger(start_backend: Any, start_edge: Any) -> None:
    a, b = start_backend("a"), start_backend("b")
    edge = start_edge(a, b)
    async with charger(edge.url("CP1"), "CP1") as c:
        assert (await c.call("BootNotification", BOOT))[0] == 3
        assert edge.connections() == {"a": 1, "b": 0}
        for i in range(30):
            if i == 10:
                job = move(edge, "a", "b")
                assert job["selected"] == 1
            answer = await (c.call("Heartbeat", {}) if i % 2 else
                            c.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}))
            assert answer[0] == 3, answer
            await backend_call(c, a, i)
            await asyncio.sleep(0.01)
        await moved(edge)
        await asyncio.sleep(0.3)  # late frames, if any, would show up now

        assert c.closed is None, "the charger saw its connection close"
        stats = edge.stats()
        assert stats["connects_total"] == 1, "the charger handshook twice"
        assert edge.connections() == {"a": 0, "b": 1}
        calls_sent = [f[1] for f in c.sent if f[0] == 2]
        assert [f[1] for f in c.answers()] == calls_sent, "answers missing, repeated or out of order"
        assert [f[3]["data"] for f in c.backend_calls] == [f"backend-{i}" for i in range(30)]
        if a.kind == "ocpp":
            at_a, at_b = a.received("CP1"), b.received("CP1")
            assert at_a and at_b, "both backends should have served part of the conversation"
            assert at_a + at_b == c.sent, "a charger frame reached the backends twice, never, or out of order"
            answered = a.entries("CP1", "answer") + b.entries("CP1", "answer")
            assert answered == [f"backend-{i}" for i in range(30)]
        else:
            at_a, at_b = messages_seen(a), messages_seen(b)
            assert at_b > 0 and at_a + at_b == len(calls_sent)


async def test_a_move_waits_for_the_backends_outstanding_call(start_backend: Any, start_edge: Any) -> None:
    a, b = start_backend("a"), start_backend("b")
    edge = start_edge(a, b)
    async with charger(edge.url("CP1"), "CP1") as c:
        await c.call("BootNotification", BOOT)
        c.answer_delay = 1.5  # the charger takes its time answering the backend's CALL
        pending = asyncio.create_task(backend_call(c, a, 1))
        while not c.backend_calls:
            await asyncio.sleep(0.01)
        move(edge, "a", "b")
        await asyncio.sleep(0.7)
        assert edge.stats()["moves"]["moved"] == 0, "moved while the backend's CALL was outstanding"
        assert edge.connections() == {"a": 1, "b": 0}
        await pending  # the answer reached the backend that asked (its admin call returned 200)
        await moved(edge)
        c.answer_delay = 0
        assert (await c.call("Heartbeat", {}))[0] == 3
        assert c.closed is None
        assert edge.connections() == {"a": 0, "b": 1}
        if a.kind == "ocpp":
            assert a.entries("CP1", "answer") == ["backend-1"]


@pytest.mark.parametrize("backend_kind", ["ocpp"])  # envctl's server answers at once: nothing to wait for
async def test_a_move_waits_for_the_chargers_outstanding_call(start_backend: Any, start_edge: Any) -> None:
    a, b = start_backend("a"), start_backend("b")
    edge = start_edge(a, b)
    async with charger(edge.url("CP1"), "CP1") as c:
        await c.call("BootNotification", BOOT)
        slow = asyncio.create_task(c.call("DataTransfer", {"vendorId": "test", "data": "slow:1.5"}))
        await asyncio.sleep(0.2)
        move(edge, "a", "b")
        # The charger's next CALL, sent while the move waits, is not held: the old upstream takes it.
        await asyncio.sleep(0.5)
        assert edge.stats()["moves"]["moved"] == 0, "moved while the charger's CALL was outstanding"
        answer = await slow
        assert answer[0] == 3 and answer[2]["data"] == "slow:1.5"
        await moved(edge)
        assert (await c.call("Heartbeat", {}))[0] == 3
        assert c.closed is None
        assert [f[1] for f in c.answers()] == [f[1] for f in c.sent if f[0] == 2]
        assert a.received("CP1")[-1][2] == "DataTransfer" and b.received("CP1")[-1][2] == "Heartbeat"


async def test_a_move_to_a_backend_that_refuses_leaves_the_charger_where_it_was(
    start_backend: Any, start_edge: Any
) -> None:
    a = start_backend("a")
    locked = start_backend("locked", password="not-the-chargers")  # answers the upstream handshake 401
    edge = start_edge(a)
    async with charger(edge.url("CP1"), "CP1") as c:
        await c.call("BootNotification", BOOT)
        r = edge.admin("POST", "/admin/backends", json={"id": "locked", "url": locked.url, "version": "v2"})
        assert r.status_code == 201, r.text
        r = edge.admin("POST", "/admin/backends", json={"id": "gone", "url": "ws://127.0.0.1:9", "version": "v2"})
        assert r.status_code == 201, r.text
        for refusals, target in enumerate(("locked", "gone"), start=1):
            move(edge, "a", target)
            await edge.wait_for(lambda s, n=refusals: s["moves"]["refused"] >= n, what=f"refusal by {target}")
            assert (await c.call("Heartbeat", {}))[0] == 3
        assert c.closed is None
        conns = edge.connections()
        assert conns["a"] == 1 and conns["locked"] == 0 and conns["gone"] == 0
        assert edge.stats()["moves"]["moved"] == 0


@pytest.mark.parametrize("backend_kind", ["ocpp"])
async def test_a_move_to_a_backend_that_never_answers_times_out_and_stays(start_backend: Any, start_edge: Any) -> None:
    silent_peers: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent_peers.append(writer)

    silent = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    a = start_backend("a")
    edge = start_edge(a, args=("--open-timeout", "1"))
    try:
        async with charger(edge.url("CP1"), "CP1") as c:
            await c.call("BootNotification", BOOT)
            assert edge.admin("POST", "/admin/backends", json={"id": "mute", "url": f"ws://127.0.0.1:{port}"}).status_code == 201
            move(edge, "a", "mute")
            answer = asyncio.create_task(c.call("Heartbeat", {}))  # sent while the move holds: waits, then goes to a
            await edge.wait_for(lambda s: s["moves"]["refused"] == 1, what="the move timing out")
            assert (await answer)[0] == 3
            assert silent_peers, "the edge never tried the silent backend"
            assert c.closed is None and edge.connections() == {"a": 1, "mute": 0}
            assert a.received("CP1")[-1][2] == "Heartbeat"
    finally:
        silent.close()
        for w in silent_peers:
            w.close()
