"""A proxy in the way of a new version: it stands between the chargers and that version's replicas
and spoils every CALL a charger sends them (BootNotification aside, so chargers stay connected),
so the real server answers each with a CALLERROR, as a version that cannot read its chargers'
messages would. The fault is injected from outside: the server runs unchanged.

The new version listens on a port of its own (`--server-args "--port Q"`, the server's own flag).
The proxy joins the environment's OCPP port (SO_REUSEPORT, as a replica does) while something
listens on Q, and leaves it as soon as Q stops listening (the version was told to stop accepting),
so the chargers moved back land on the old version only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

OCPP16 = [Subprotocol("ocpp1.6")]


def listening(port: int) -> bool:
    """Whether a socket listens on 127.0.0.1:port, read from the kernel (probing by connecting
    would count as a charger's connect on the real server)."""
    wanted = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":  # 0A: LISTEN
            return True
    return False


def spoil(message: str | bytes) -> str | bytes:
    """A charger's CALL with its payload replaced by a JSON array: a TypeConstraintViolation."""
    try:
        frame: Any = json.loads(message)
    except ValueError:
        return message
    if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2 and frame[2] != "BootNotification":
        frame[3] = []
        return json.dumps(frame)
    return message


class SpoilingProxy:
    def __init__(self, listen_port: int, upstream_port: int) -> None:
        self.listen_port, self.upstream_port = listen_port, upstream_port
        self.spoiled = 0  # CALLs spoiled on their way
        self.joined = False  # whether the proxy ever listened on the environment's port
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),), daemon=True)

    def __enter__(self) -> SpoilingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        server: Server | None = None
        while not self._stopping.is_set():
            up = listening(self.upstream_port)
            if up and server is None:
                server = await serve(self._relay, "127.0.0.1", self.listen_port, reuse_port=True, subprotocols=OCPP16)
                self.joined = True
            elif not up and server is not None:
                server.close(close_connections=False)  # connections go when the version closes them
                server = None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.05)
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _relay(self, charger: ServerConnection) -> None:
        path = charger.request.path if charger.request else "/"
        try:
            replica = await connect(f"ws://127.0.0.1:{self.upstream_port}{path}", subprotocols=OCPP16, open_timeout=5)
        except (OSError, asyncio.TimeoutError, ConnectionClosed):
            await charger.close(1013, "try again later")
            return
        async with replica:
            pumps = [asyncio.create_task(self._pump(charger, replica, True)),
                     asyncio.create_task(self._pump(replica, charger, False))]
            done, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            closed = replica if pumps[1] in done else charger
            other = charger if closed is replica else replica
            code = closed.close_code
            if code is None or code in (1005, 1006, 1015):  # not codes a close frame may carry
                code = 1001
            await other.close(code, closed.close_reason or "")  # the same code, e.g. 1012 from a drain
            for task in pending:
                task.cancel()

    async def _pump(self, src: ServerConnection | ClientConnection, dst: ServerConnection | ClientConnection,
                    spoiling: bool) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in src:
                if spoiling:
                    spoiled = spoil(message)
                    self.spoiled += spoiled is not message
                    message = spoiled
                await dst.send(message)
