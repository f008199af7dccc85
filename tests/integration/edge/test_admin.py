"""The edge's admin API, as an operator uses it: the token on every mutating route, health,
readiness, metrics with bounded labels, adding and removing backends, drain, clear errors."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from tests.integration.edge.chargers import BOOT, charger

pytestmark = [pytest.mark.timeout(120), pytest.mark.parametrize("backend_kind", ["ocpp"])]

MUTATING = [
    ("POST", "/admin/move", {"count": 1, "from": ["a"], "to": ["a"]}),
    ("POST", "/admin/backends", {"id": "x", "url": "ws://127.0.0.1:9"}),
    ("DELETE", "/admin/backends/a", None),
    ("POST", "/admin/budget", {"budget_per_s": 10}),
    ("POST", "/admin/drain", {"rate_per_s": 10}),
]


async def test_every_mutating_route_needs_the_token(start_backend: Any, start_edge: Any) -> None:
    edge = start_edge(start_backend("a"))
    for method, path, body in MUTATING:
        r = edge.admin(method, path, token=None, json=body)
        assert r.status_code == 401, (path, r.text)
        assert "Authorization: Bearer" in r.json()["error"]
        r = edge.admin(method, path, token="wrong-token-wrong-token", json=body)
        assert r.status_code == 403, (path, r.text)
    stats = edge.stats()
    assert [b["id"] for b in stats["backends"]] == ["a"] and not stats["draining"], "a refused request changed something"
    for path in ("/healthz", "/readyz", "/metrics", "/admin/stats"):
        assert edge.admin("GET", path, token=None).status_code == 200, path


async def test_backends_added_and_removed_and_bad_requests_explained(start_backend: Any, start_edge: Any) -> None:
    a, b = start_backend("a"), start_backend("b")
    edge = start_edge(a, args=("--budget", "20"))
    async with charger(edge.url("CP1"), "CP1") as c1, charger(edge.url("CP2"), "CP2") as c2:
        for c in (c1, c2):
            await c.call("BootNotification", BOOT)
        r = edge.admin("POST", "/admin/backends", json={"id": "b", "url": b.url, "version": "v2"})
        assert r.status_code == 201 and r.json()["backend"]["version"] == "v2"
        assert edge.admin("POST", "/admin/backends", json={"id": "b", "url": b.url}).status_code == 409
        r = edge.admin("POST", "/admin/backends", json={"id": "c", "url": "http://x:1/ocpp"})
        assert r.status_code == 422 and "ws://" in r.json()["error"]
        r = edge.admin("POST", "/admin/move", json={"count": 1, "from": ["a"], "to": ["nope"]})
        assert r.status_code == 422 and "nope" in r.json()["error"]
        r = edge.admin("POST", "/admin/move", json={"count": -1, "from": ["a"], "to": ["b"]})
        assert r.status_code == 422
        assert edge.admin("DELETE", "/admin/backends/nope").status_code == 404

        metrics = edge.admin("GET", "/metrics").text
        assert 'envctl_edge_backend_connections{backend="a",state="up",version="a-version"} 2.0' in metrics
        assert "CP1" not in metrics, "a charger id became a label"

        r = edge.admin("DELETE", "/admin/backends/a")
        assert r.status_code == 202
        await edge.wait_for(lambda s: [x["id"] for x in s["backends"]] == ["b"], what="backend a forgotten")
        assert edge.connections() == {"b": 2}
        for c in (c1, c2):
            assert (await c.call("Heartbeat", {}))[0] == 3
            assert c.closed is None


async def test_readiness_and_drain(start_backend: Any, start_edge: Any) -> None:
    a = start_backend("a")
    edge = start_edge(a)
    assert edge.admin("GET", "/readyz").json() == {"ready": True}
    async with charger(edge.url("CP1"), "CP1") as c:
        await c.call("BootNotification", BOOT)
        assert edge.admin("POST", "/admin/drain", json={"rate_per_s": 0}).status_code == 422
        assert edge.admin("POST", "/admin/drain", json={"rate_per_s": 50}).status_code == 202
        r = edge.admin("GET", "/readyz")
        assert r.status_code == 503 and r.json()["reason"] == "draining"
        for _ in range(100):
            if c.closed is not None:
                break
            await asyncio.sleep(0.05)
        assert c.closed is not None and c.closed.rcvd is not None and c.closed.rcvd.code == 1012
    with pytest.raises(OSError):  # the listener is closed: the charger goes to another edge process
        async with charger(edge.url("CP2"), "CP2", open_timeout=2):
            pass


async def test_no_healthy_backend_is_not_ready_and_refuses_chargers_with_503(start_backend: Any, start_edge: Any) -> None:
    from websockets.exceptions import InvalidStatus

    edge = start_edge(args=())
    r = edge.admin("GET", "/readyz")
    assert r.status_code == 503 and r.json()["reason"] == "no healthy backend"
    with pytest.raises(InvalidStatus) as refused:
        async with charger(edge.url("CP1"), "CP1"):
            pass
    assert refused.value.response.status_code == 503
    assert refused.value.response.headers["Retry-After"]


def test_bad_flags_exit_2_with_what_was_wrong(backend_kind: str) -> None:
    import subprocess
    import sys

    from tests.integration.edge.conftest import REPO

    r = subprocess.run([sys.executable, "-m", "envctl.edge", "--backend", "b1=http://x"], capture_output=True,
                       text=True, cwd=REPO, timeout=30, check=False)
    assert r.returncode == 2 and "not a ws:// or wss:// base URL" in r.stderr
    r = subprocess.run([sys.executable, "-m", "envctl.edge", "--budget", "-1"], capture_output=True, text=True,
                       cwd=REPO, timeout=30, check=False)
    assert r.returncode == 2 and "--budget must be > 0" in r.stderr


async def test_sigterm_closes_chargers_with_1001_and_exits_0(start_backend: Any, start_edge: Any) -> None:
    edge = start_edge(start_backend("a"))
    async with charger(edge.url("CP1"), "CP1") as c:
        await c.call("BootNotification", BOOT)
        edge.proc.terminate()
        for _ in range(100):
            if c.closed is not None:
                break
            await asyncio.sleep(0.05)
        assert c.closed is not None and c.closed.rcvd is not None and c.closed.rcvd.code == 1001
    assert await asyncio.to_thread(edge.proc.wait, 10) == 0


async def test_a_full_process_refuses_the_next_charger_with_503(start_backend: Any, start_edge: Any) -> None:
    """Two sockets per charger: under a 600-descriptor limit a process holds (600 - 512) / 2 = 44."""
    from websockets.exceptions import InvalidStatus

    edge = start_edge(start_backend("a"), descriptors=600)
    assert edge.ready["descriptor_limit"] == 600 and edge.ready["max_chargers"] == 44
    async with contextlib.AsyncExitStack() as stack:
        for i in range(44):
            await stack.enter_async_context(charger(edge.url(f"CP{i}"), f"CP{i}"))
        with pytest.raises(InvalidStatus) as refused:
            async with charger(edge.url("CP44"), "CP44"):
                pass
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "1"
        assert edge.stats()["refused_handshakes"]["capacity"] == 1
