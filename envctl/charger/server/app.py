"""CentralSystem: the OCPP server's wiring — store, registry, ownership, router, listener, drainer, admin API.

One process, one event loop: the OCPP listener and the admin HTTP server (uvicorn) share it, so
the admin API sees live state without locks. Lifecycle: `start()` (open the store, listen, serve
admin), then `run_until_signal()` or explicit calls; `stop()` is the graceful stop SIGTERM
triggers: no new connections, close existing ones with 1001, flush and close the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from websockets.asyncio.server import ServerConnection

from envctl.charger.protocol.frames import MessageIds
from envctl.charger.server.admin import build_admin_app
from envctl.charger.server.admission import Admission
from envctl.charger.server.auth import BasicAuth, tls_context
from envctl.charger.server.config import ServerConfig
from envctl.charger.server.connection import ChargerConnection
from envctl.charger.server.drain import Drainer, DrainProgress
from envctl.charger.server.forwarding import Forwarder
from envctl.charger.server.handlers import Handlers
from envctl.charger.server.listener import Listener, charger_id_from_path, enable_tcp_migrate_req, listening_socket
from envctl.charger.server.metrics import Metrics
from envctl.charger.server.ownership import Ownership
from envctl.charger.server.registry import Registry
from envctl.charger.server.router import Router
from envctl.charger.store import Store, open_store
from envctl.charger.store.base import ReplicaInfo, utcnow
from envctl.state import open_private

log = logging.getLogger(__name__)

GOING_AWAY = 1001
NORMAL = 1000


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the CentralSystem owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class CentralSystem:
    def __init__(
        self,
        config: ServerConfig,
        *,
        store: Store | None = None,
        message_ids: Callable[[str], MessageIds] | None = None,
    ) -> None:
        self.config = config
        self.store: Store | None = store
        self._own_store = store is None
        self.message_ids = message_ids or (lambda charger_id: MessageIds())
        self.registry = Registry()
        self.metrics = Metrics(lambda: len(self.registry))
        self.drainer = Drainer(self.registry)
        self.stopping = False
        self.started_at = time.time()
        self.migrate_req_enabled = False
        self.admin_port = 0
        self._admin: _EmbeddedUvicorn | None = None
        self._admin_task: asyncio.Task[None] | None = None
        self._replacing: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self.admin_url = ""

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the store, listen for chargers, serve the admin API; undo it all if a step fails."""
        try:
            await self._start()
        except BaseException:
            await self._abort_start()
            raise

    async def _abort_start(self) -> None:
        listener = getattr(self, "listener", None)
        if listener is not None:
            listener.stop()
        if self._admin is not None and self._admin_task is not None:
            self._admin.should_exit = True
            with contextlib.suppress(BaseException):
                await self._admin_task
        forwarder = getattr(self, "forwarder", None)
        if forwarder is not None:
            await forwarder.close()
        if self.store is not None and self._own_store:
            await self.store.close()

    async def _start(self) -> None:
        cfg = self.config
        cfg.check()
        if cfg.reuse_port:
            self.migrate_req_enabled = enable_tcp_migrate_req()
        if self.store is None:
            self.store = await open_store(cfg.database_url, replica_id=cfg.replica_id)
        self.store.on_commit = self.metrics.commit
        self.ownership = Ownership(self.store, self.registry, self.metrics, self._supersede)
        self.forwarder = Forwarder(cfg.replica_id, self.store, cfg.admin_token)
        self.router = Router(Handlers(self.store, cfg, self.metrics).table())
        self.listener = Listener(
            cfg,
            self._serve_charger,
            self.metrics,
            auth=BasicAuth(cfg.basic_auth) if cfg.basic_auth else None,
            ssl_context=tls_context(cfg.tls_cert, cfg.tls_key) if cfg.tls_cert and cfg.tls_key else None,
            serving=lambda: not self.stopping,
            admission=Admission(cfg.max_accept_rate) if cfg.max_accept_rate > 0 else None,
        )
        await self._start_admin()  # before listening: the replica is findable before it owns a charger
        await self.store.register_replica(self._replica_info())
        await self.listener.start()

    def _replica_info(self, stopped: bool = False) -> ReplicaInfo:
        return ReplicaInfo(self.config.replica_id, self.admin_url, self.config.version,
                           datetime.fromtimestamp(self.started_at, timezone.utc), utcnow() if stopped else None)

    def store_or_fail(self) -> Store:
        assert self.store is not None, "the store opens before the admin API serves"
        return self.store

    async def _start_admin(self) -> None:
        sock = listening_socket(self.config.admin_host, self.config.admin_port, False)
        self.admin_port = sock.getsockname()[1]
        self.admin_url = self.config.advertise_admin_url or f"http://{_reachable(self.config.admin_host)}:{self.admin_port}"
        config = uvicorn.Config(
            build_admin_app(self), lifespan="off", access_log=False, log_level="warning", timeout_graceful_shutdown=2
        )
        self._admin = _EmbeddedUvicorn(config)
        self._admin_task = asyncio.get_running_loop().create_task(self._admin.serve(sockets=[sock]), name="admin")
        while not self._admin.started:
            if self._admin_task.done():
                self._admin_task.result()  # raise why it failed
                raise RuntimeError("admin server exited during startup")
            await asyncio.sleep(0.005)

    @property
    def ocpp_port(self) -> int:
        return self.listener.port

    def ready_info(self) -> dict[str, Any]:
        return {
            "event": "ready",
            "ocpp_port": self.ocpp_port,
            "admin_port": self.admin_port,
            "pid": os.getpid(),
            "version": self.config.version,
            "replica_id": self.config.replica_id,
            "admin_url": self.admin_url,
        }

    def announce_ready(self, stdout: Any) -> None:
        """Print the one ready line (the local runtime waits for it) and write --ready-file atomically."""
        line = orjson.dumps(self.ready_info()).decode()
        stdout.write(line + "\n")
        stdout.flush()
        if self.config.ready_file is not None:
            path = Path(self.config.ready_file)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open_private(tmp, "w", encoding="utf-8") as fh:
                fh.write(line + "\n")
            os.replace(tmp, path)

    async def run_until_signal(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await self.stop()

    async def stop(self) -> None:
        """Graceful stop: refuse new connections, close existing ones with 1001, flush the store."""
        if self.stopping:
            await self._stopped.wait()
            return
        self.stopping = True
        self.listener.stop()
        self.drainer.cancel()
        for conn in self.registry.connections():
            self.drainer.close(conn, GOING_AWAY, "server shutting down")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.shutdown_timeout):
                await self.drainer.wait_closed()
                for server in self.listener.servers:  # stragglers: handshakes in progress, replaced ones
                    server.close(close_connections=True, code=GOING_AWAY, reason="server shutting down")
                for server in self.listener.servers:
                    await server.wait_closed()
        await self.forwarder.close()
        if self.store is not None:
            with contextlib.suppress(Exception):  # the others stop forwarding here
                await self.store.register_replica(self._replica_info(stopped=True))
        if self.store is not None and self._own_store:
            await self.store.close()
        if self._admin is not None and self._admin_task is not None:
            self._admin.should_exit = True
            with contextlib.suppress(Exception):
                await self._admin_task
        self._stopped.set()

    # -- control (admin API) ------------------------------------------------------------------------
    def drain(self, rate_per_s: float) -> DrainProgress:
        self.listener.stop()
        return self.drainer.start(rate_per_s)

    async def set_accepting(self, accepting: bool) -> None:
        if accepting:
            await self.listener.start()
        else:
            self.listener.stop()

    def not_ready_reason(self) -> str | None:
        if self.stopping:
            return "stopping"
        if self.drainer.draining:
            return "draining"
        if not self.listener.accepting:
            return "not accepting new connections"
        return None

    def stats(self) -> dict[str, Any]:
        return {
            "connections": len(self.registry),
            "chargers_remembered": self.registry.remembered(),
            "draining": self.drainer.draining,
            "accepting": self.listener.accepting,
            "ready": self.not_ready_reason() is None,
            "version": self.config.version,
            "replica_id": self.config.replica_id,
            "pid": os.getpid(),
            "ocpp_port": self.ocpp_port,
            "admin_port": self.admin_port,
            "uptime_s": round(time.time() - self.started_at, 3),
            **self.metrics.summary(),
            "drain": self.drainer.progress.to_dict(),
            "store": self.store.stats() if self.store is not None else None,
            "tcp_migrate_req": self.migrate_req_enabled,
            "admin_url": self.admin_url,
            "max_accept_rate": self.config.max_accept_rate,
            "handshakes": self.listener.gate.to_dict(),
            "forwarded_total": self.forwarder.forwarded,
        }

    # -- one charger -------------------------------------------------------------------------------
    async def _serve_charger(self, ws: ServerConnection) -> None:
        cid = charger_id_from_path(ws.request.path)  # type: ignore[union-attr]
        assert cid is not None  # the handshake check refused anything else
        conn = ChargerConnection(ws, cid, self.registry.state(cid), self.router, self.metrics, self.message_ids(cid))
        old = self.registry.attach(conn)
        self.ownership.connected(conn)  # claimed before its first message is read: every write is fenced
        self.metrics.connects_total += 1
        self.metrics.connects_per_second.add()
        if old is not None:
            self.metrics.replaced_total += 1
            self._supersede(old, "replaced")
        if self.drainer.progress.done or self.stopping:  # slipped in after the drain finished
            self.drainer.close(conn, 1012 if not self.stopping else GOING_AWAY, "service restart")
        try:
            await conn.run()
        finally:
            self.registry.detach(conn)
            self.ownership.disconnected(conn)
            self.metrics.disconnects_total += 1
            if self.store is not None:
                self.store.touch(cid, utcnow())

    def _supersede(self, conn: ChargerConnection, reason: str | None = None) -> None:
        """Close a connection a newer one of the same charger replaced, in the background."""
        if reason is None:
            coro = conn.supersede()
        else:
            conn.superseded = True
            coro = conn.close(NORMAL, reason)
        task = asyncio.get_running_loop().create_task(coro)
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)


def _reachable(host: str) -> str:
    """The admin host as another replica would dial it (a wildcard bind is reached by this host's name)."""
    if host in ("", "0.0.0.0", "::"):
        return socket.getfqdn()
    return f"[{host}]" if ":" in host else host
