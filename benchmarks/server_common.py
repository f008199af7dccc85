"""Shared parts of the charger-server benchmarks: start `envctl server`, run load clients in other processes.

The clients are separate processes (multiprocessing, spawn) so the server's numbers are not
inflated by sharing its event loop; each client binds its sockets to source addresses spread over
127.0.0.0/8 (local_addr=(127.0.0.X, 0)) so tens of thousands of connections do not exhaust one
address's ephemeral port range.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))


class Server:
    def __init__(self, *args: str, database_url: str | None = None, root: Path = REPO,
                 env: dict[str, str] | None = None) -> None:
        """`root`: the checkout whose envctl runs (another commit's tree, for side-by-side runs)."""
        self.tmp = Path(tempfile.mkdtemp(prefix="envctl-serverbench-"))
        self.database_url = database_url or f"sqlite:///{self.tmp / 'server.db'}"
        cmd = [sys.executable, "-c", "from envctl.cli.app import main; main()", "server", "--port", "0",
               "--database-url", self.database_url, *args]
        self.log = self.tmp / "server.log"
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log.open("wb"), cwd=root,
                                     env=os.environ | {"PYTHONPATH": str(root)} | (env or {}))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"server did not start: {self.log.read_text()[-2000:]}")
        self.ready = json.loads(line)
        self.port = self.ready["ocpp_port"]
        self.admin = f"http://127.0.0.1:{self.ready['admin_port']}"
        self.ps = psutil.Process(self.proc.pid)

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def stats(self) -> dict[str, Any]:
        return httpx.get(self.admin + "/admin/stats", timeout=10).json()

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def source_address(i: int) -> str:
    """127.0.0.2 .. 127.0.0.250, then 127.0.1.x, ...: many source addresses for many connections."""
    n = i % (250 * 250)
    return f"127.0.{n // 249}.{n % 249 + 2}"


def _client_entry(fn_path: str, kwargs: dict[str, Any], out: Any) -> None:
    import uvloop

    module, name = fn_path.split(":")
    fn = getattr(__import__(module, fromlist=[name]), name)
    try:
        out.put(uvloop.run(fn(**kwargs)))
    except BaseException as exc:  # report, don't hang the parent
        out.put({"error": repr(exc)})


def run_clients(fn_path: str, kwargs_list: list[dict[str, Any]], timeout: float = 600) -> list[dict[str, Any]]:
    """Run fn(**kwargs) in one spawned process per kwargs; return their results."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_client_entry, args=(fn_path, kw, out)) for kw in kwargs_list]
    for p in procs:
        p.start()
    results = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(30)
    return results


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def conditions() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "machine": platform.machine(),
        "note": "shared 2-core machine; other engineers' processes may compete for CPU",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_report(path: str, report: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))



class RawCharger:
    """A deliberately lean OCPP-J client for load generation (not for correctness tests).

    A Python websockets client costs about as much CPU per message as the server, so on a 2-core
    machine it would measure itself. This one speaks just enough RFC 6455: a fixed handshake,
    masked text frames built with a constant mask, and unmasked small server frames parsed
    in place. One CALL outstanding at a time, as an OCPP charger would.
    """

    MASK = b"\x12\x34\x56\x78"

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.get_running_loop()
        self.transport: Any = None
        self.buf = bytearray()
        self.upgraded = self.loop.create_future()
        self.waiter: Any = None
        self.closed = False

    @classmethod
    def frame(cls, text: str | bytes) -> bytes:
        payload = text.encode() if isinstance(text, str) else text
        n = len(payload)
        head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        mask = cls.MASK * (n // 4 + 1)
        return head + cls.MASK + bytes(b ^ m for b, m in zip(payload, mask))

    @classmethod
    async def connect(cls, host: str, port: int, path: str, source: str | None = None) -> RawCharger:
        loop = __import__("asyncio").get_running_loop()
        self = cls()
        await loop.create_connection(lambda: _RawProtocol(self), host, port,
                                     local_addr=(source, 0) if source else None)
        self.transport.write(
            (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n").encode())
        await self.upgraded
        return self

    async def call(self, frame: bytes) -> bytes:
        self.waiter = self.loop.create_future()
        self.transport.write(frame)
        return await self.waiter  # type: ignore[no-any-return]

    def feed(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[:12])
            del self.buf[: end + 4]
            if b" 101" not in status:
                self.upgraded.set_exception(ConnectionError(f"handshake refused: {status!r}"))
                return
            self.upgraded.set_result(None)
        while len(self.buf) >= 2:
            n = self.buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, off = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, off = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < off + n:
                return
            opcode = self.buf[0] & 0x0F
            payload = bytes(self.buf[off: off + n])
            del self.buf[: off + n]
            if opcode == 0x8:  # close
                self.closed = True
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_exception(ConnectionError("closed by server"))
                continue
            if opcode == 0x9:  # ping -> pong
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + self.MASK
                                     + bytes(b ^ m for b, m in zip(payload, self.MASK * 32)))
                continue
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(payload)

    def lost(self) -> None:
        self.closed = True
        for fut in (self.upgraded, self.waiter):
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionError("connection lost"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.write(bytes([0x88, 0x82]) + self.MASK + bytes(b ^ m for b, m in zip(b"\x03\xe8", self.MASK)))
            self.transport.close()


class _RawProtocol:
    def __init__(self, owner: RawCharger) -> None:
        self.owner = owner

    def connection_made(self, transport: Any) -> None:
        self.owner.transport = transport

    def data_received(self, data: bytes) -> None:
        self.owner.feed(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.lost()

    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...
