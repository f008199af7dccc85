"""Helpers for tests that talk to a real charger-server over real sockets.

Two ways to get a server (both on ephemeral ports, SQLite in the test's tmp dir unless a
`database_url` is given):

* in-process — `async with running_server(tmp_path, **config) as cs:` gives a started
  `CentralSystem` (see envctl/charger/server/app.py) in the test's own event loop:
  `cs.ocpp_url("CP1")`, `cs.admin_url`, `cs.registry`, `cs.store`. Fast; use it by default.
  The `central_system` fixture is the same with defaults.
* subprocess — `ServerProcess.start(tmp_path, *cli_args)` runs `envctl server` exactly as the
  local runtime does and waits for its ready line; `.ocpp_url(id)`, `.admin_url`, `.pid`,
  `.terminate()` (SIGTERM, graceful), `.kill()` (SIGKILL). Use it for signals, kill -9, CLI flags.
  The `server_process` fixture is a factory that stops whatever it started.

A charger side for the tests: `async with charger(url, "CP1") as ws:` opens a WebSocket with the
ocpp1.6 subprotocol, and `await ocpp_call(ws, "Heartbeat", {})` sends a CALL and returns the answer
frame as a list ([3, id, payload] or [4, id, code, description, details]), skipping nothing: a
frame with another id raises. `boot(ws)` sends a valid BootNotification. `answering(ws, reply)`
answers the server's CALLs with reply(frame) (`result(payload)` builds a CALLRESULT).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from envctl.charger.server.app import CentralSystem
from envctl.charger.server.config import ServerConfig

REPO = Path(__file__).resolve().parents[3]
_ids = itertools.count(1)


def _urls(cs: CentralSystem) -> None:
    scheme = "wss" if cs.config.tls_cert else "ws"
    cs.ocpp_url = lambda cid: f"{scheme}://127.0.0.1:{cs.ocpp_port}/ocpp/{cid}"  # type: ignore[attr-defined]
    cs.admin_url = f"http://127.0.0.1:{cs.admin_port}"  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def running_server(tmp_path: Path, **config: Any) -> AsyncIterator[CentralSystem]:
    """A started in-process CentralSystem; stopped (gracefully) on exit."""
    config.setdefault("port", 0)
    config.setdefault("database_url", f"sqlite:///{tmp_path / 'server.db'}")
    config.setdefault("version", "test")
    store = config.pop("store", None)
    message_ids = config.pop("message_ids", None)
    cs = CentralSystem(ServerConfig(**config), store=store, message_ids=message_ids)
    await cs.start()
    _urls(cs)
    try:
        yield cs
    finally:
        await cs.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite (a file in the test's tmp dir) and on a fresh real Postgres database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'charger.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def central_system(tmp_path: Path) -> AsyncIterator[CentralSystem]:
    async with running_server(tmp_path) as cs:
        yield cs


@contextlib.asynccontextmanager
async def charger(url: str, charger_id: str | None = None, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    """A WebSocket client speaking ocpp1.6 to `url` (or to url + charger_id when given a base)."""
    kwargs.setdefault("subprotocols", ["ocpp1.6"])
    kwargs.setdefault("compression", None)
    kwargs.setdefault("open_timeout", 10)
    target = url if charger_id is None else f"{url.rstrip('/')}/{charger_id}"
    async with connect(target, **kwargs) as ws:
        yield ws


async def ocpp_call(ws: ClientConnection, action: str, payload: dict[str, Any], timeout: float = 10) -> list[Any]:
    unique_id = f"t{next(_ids)}"
    await ws.send(orjson.dumps([2, unique_id, action, payload]).decode())
    return await expect_answer(ws, unique_id, timeout)


async def expect_answer(ws: ClientConnection, unique_id: str, timeout: float = 10) -> list[Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    frame = orjson.loads(raw)
    if frame[1] != unique_id:
        raise AssertionError(f"expected the answer to {unique_id}, got {frame}")
    return frame


@contextlib.asynccontextmanager
async def answering(ws: ClientConnection, reply: Callable[[list[Any]], str | None]) -> AsyncIterator[list[list[Any]]]:
    """Answer the server's CALLs on `ws` with reply(frame) (None: stay silent); yields the CALLs seen."""
    seen: list[list[Any]] = []

    async def loop() -> None:
        async for raw in ws:
            frame = orjson.loads(raw)
            seen.append(frame)
            out = reply(frame)
            if out is not None:
                await ws.send(out)

    task = asyncio.create_task(loop())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await task


def result(payload: dict[str, Any]) -> Callable[[list[Any]], str]:
    return lambda frame: orjson.dumps([3, frame[1], payload]).decode()


BOOT = {"chargePointVendor": "envctl", "chargePointModel": "test-1", "firmwareVersion": "1.0"}


async def boot(ws: ClientConnection, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    frame = await ocpp_call(ws, "BootNotification", payload or BOOT)
    assert frame[0] == 3, frame
    return frame[2]


class ServerProcess:
    """`envctl server` as a child process, as the local runtime runs it."""

    def __init__(self, proc: subprocess.Popen[bytes], ready: dict[str, Any], log_path: Path) -> None:
        self.proc = proc
        self.ready = ready
        self.log_path = log_path
        self.pid: int = ready["pid"]
        self.ocpp_port: int = ready["ocpp_port"]
        self.admin_port: int = ready["admin_port"]
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"

    def ocpp_url(self, charger_id: str, scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.ocpp_port}/ocpp/{charger_id}"

    @classmethod
    def command(cls, *args: str) -> list[str]:
        return [sys.executable, "-c", "from envctl.cli.app import main; main()", "server", *args]

    @classmethod
    def start(cls, tmp_path: Path, *args: str, timeout: float = 20, env: dict[str, str] | None = None,
              preexec_fn: Callable[[], None] | None = None) -> ServerProcess:
        args_l = list(args)
        if "--port" not in args_l:
            args_l += ["--port", "0"]
        if "--database-url" not in args_l:
            args_l += ["--database-url", f"sqlite:///{tmp_path / 'server.db'}"]
        log_path = tmp_path / f"server-{time.monotonic_ns()}.log"
        proc = subprocess.Popen(
            cls.command(*args_l),
            stdout=subprocess.PIPE,
            stderr=log_path.open("wb"),
            cwd=REPO,
            env=(os.environ | {"PYTHONPATH": str(REPO)} | (env or {})),
            preexec_fn=preexec_fn,  # e.g. a lowered RLIMIT_NOFILE, set from outside as an operator would
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        os.set_blocking(proc.stdout.fileno(), False)
        buf = b""
        while time.monotonic() < deadline:
            chunk = proc.stdout.read()
            if chunk:
                buf += chunk
                if b"\n" in buf:
                    ready = json.loads(buf.split(b"\n", 1)[0])
                    return cls(proc, ready, log_path)
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            time.sleep(0.02)
        proc.kill()
        raise RuntimeError(f"server not ready in {timeout}s: {log_path.read_text()[-2000:]}")

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.admin_url + path, timeout=10, **kwargs)

    def terminate(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> int:
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def server_process(tmp_path: Path) -> Any:
    started: list[ServerProcess] = []

    def factory(*args: str, **kwargs: Any) -> ServerProcess:
        sp = ServerProcess.start(tmp_path, *args, **kwargs)
        started.append(sp)
        return sp

    yield factory
    for sp in started:
        sp.kill()
