"""The edge process: gateway (chargers), sessions, backend pool, mover, admin API, in one loop.

    start()        listen for chargers and serve the admin API
    move(n, a, b)  operator moves (mover.py); add/remove backends; drain
    stop()         close chargers with 1001 and their upstreams, stop the admin API

A backend goes `down` when an upstream to it ends without the edge asking and without a code
meant for the charger; its sessions are re-homed at the budget. A prober tries a down backend's
TCP port every `probe_interval` and puts it back `up` when it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from envctl.charger.server.auth import tls_context
from envctl.charger.server.listener import listening_socket
from envctl.edge.admin import build_admin_app
from envctl.edge.backends import DOWN, LEAVING, UP, Backend, Pool
from envctl.edge.charger_side import ChargerHop
from envctl.edge.config import EdgeConfig
from envctl.edge.gateway import Gateway
from envctl.edge.metrics import EdgeMetrics
from envctl.edge.mover import MoveJob, Mover
from envctl.edge.pacer import Pacer
from envctl.edge.session import Session
from envctl.edge.upstream import (
    HandshakeFacts,
    UpstreamHop,
    UpstreamSettings,
    open_upstream,
)

log = logging.getLogger(__name__)
GOING_AWAY = 1001
SERVICE_RESTART = 1012


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the edge owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Edge:
    def __init__(self, config: EdgeConfig) -> None:
        config.check()
        self.config = config
        self.pool = Pool()
        for backend in config.backends:
            self.pool.add(backend)
        self.sessions: set[Session] = set()
        self.metrics = EdgeMetrics()
        self.draining = False
        self.stopping = False
        self.started_at = time.time()
        backend_ssl = ssl.create_default_context(cafile=str(config.backend_ca)) if config.backend_ca else None
        self.upstream_settings = UpstreamSettings(config.open_timeout, config.max_frame_bytes, backend_ssl)
        self.pacer = Pacer(config.budget_per_s, config.processes)
        self.mover: Mover
        self.gateway: Gateway
        self.admin_port = 0
        self._admin: _EmbeddedUvicorn | None = None
        self._admin_task: asyncio.Task[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._leaving: dict[str, MoveJob] = {}

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        self.mover = Mover(self.pool, self.pacer, self._open_for_move, idle_timeout=cfg.idle_timeout)
        self.gateway = Gateway(self, self._charger_open, self._tls())
        await self._start_admin()
        await self.gateway.start()
        self._spawn(self._probe_loop())

    def _tls(self) -> ssl.SSLContext | None:
        cfg = self.config
        if cfg.tls_cert is None or cfg.tls_key is None:
            return None
        ctx = tls_context(cfg.tls_cert, cfg.tls_key)
        if cfg.tls_client_ca is not None:
            ctx.load_verify_locations(str(cfg.tls_client_ca))
            ctx.verify_mode = ssl.CERT_OPTIONAL  # a charger on profile 2 (password) shows none
        return ctx

    async def _start_admin(self) -> None:
        sock = listening_socket(self.config.admin_host, self.config.admin_port, False)
        self.admin_port = sock.getsockname()[1]
        config = uvicorn.Config(build_admin_app(self), lifespan="off", access_log=False, log_level="warning",
                                timeout_graceful_shutdown=2)
        self._admin = _EmbeddedUvicorn(config)
        task = self._admin_task = asyncio.ensure_future(self._admin.serve(sockets=[sock]))
        while not self._admin.started:
            if task.done():
                task.result()
                raise RuntimeError("admin server exited during startup")
            await asyncio.sleep(0.005)

    @property
    def ocpp_port(self) -> int:
        return self.gateway.port

    def ready_info(self) -> dict[str, Any]:
        return {"event": "ready", "edge_id": self.config.edge_id, "ocpp_port": self.ocpp_port,
                "admin_port": self.admin_port, "pid": os.getpid(),
                "descriptor_limit": self.gateway.limit, "max_chargers": self.gateway.capacity}

    async def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.gateway.stop()
        self.mover.cancel()
        for session in list(self.sessions):
            session.close(GOING_AWAY, "edge shutting down")
        deadline = time.monotonic() + 5
        while self.sessions and time.monotonic() < deadline:  # each ends when its charger answers the close
            await asyncio.sleep(0.02)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._admin is not None and self._admin_task is not None:
            self._admin.should_exit = True
            await asyncio.gather(self._admin_task, return_exceptions=True)

    # -- chargers --------------------------------------------------------------------------------
    async def open_upstream(self, backend: Backend, facts: HandshakeFacts, *, first: bool) -> UpstreamHop:
        return await open_upstream(backend, facts, self.upstream_settings, first=first)

    async def _open_for_move(self, backend: Backend, facts: HandshakeFacts) -> UpstreamHop:
        return await self.open_upstream(backend, facts, first=False)

    def _charger_open(self, hop: ChargerHop) -> None:
        upstream, backend, facts = hop.context
        hop.context = None
        if hop.closed or hop.transport.is_closing():  # it left while its backend was asked
            upstream.close(1001, "charger left during the handshake")
            return
        session = Session(hop, facts, upstream, backend, self, call_timeout=self.config.call_timeout)
        self.sessions.add(session)
        self.metrics.connects_total += 1
        self.metrics.connects_per_second.add()
        session.start()

    # Hooks the sessions call --------------------------------------------------------------------
    def session_ended(self, session: Session) -> None:
        self.sessions.discard(session)
        self.metrics.disconnects_total += 1
        self.metrics.frames_up += session.frames_up
        self.metrics.frames_down += session.frames_down

    def frames(self) -> dict[str, int]:
        return {"up": self.metrics.frames_up + sum(s.frames_up for s in self.sessions),
                "down": self.metrics.frames_down + sum(s.frames_down for s in self.sessions)}

    def upstream_lost(self, session: Session, backend: Backend, abnormal: bool) -> None:
        self.metrics.upstreams_lost += 1
        self.mark_down(backend)
        self.mover.orphaned(session)

    def mark_down(self, backend: Backend) -> None:
        if backend.state == UP:
            log.warning("backend %s (%s) went away; re-homing its chargers", backend.id, backend.url)
            backend.state = DOWN

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.probe_interval)
            for backend in [b for b in self.pool.backends.values() if b.state == DOWN]:
                if await _reachable(backend):
                    backend.state = UP

    # -- operations ------------------------------------------------------------------------------
    def move(self, count: int, from_ids: set[str], to_ids: set[str]) -> MoveJob:
        return self.mover.start_job(count, from_ids, to_ids)

    def remove_backend(self, ident: str) -> MoveJob:
        """Stop sending chargers to it, move its chargers to the others at the budget, then forget it."""
        backend = self.pool.backends[ident]
        backend.state = LEAVING
        others = {b.id for b in self.pool.backends.values() if b.id != ident}
        job = self.mover.start_job(len(backend.sessions), {ident}, others)
        self._spawn(self._forget_when_empty(backend, job))
        return job

    async def _forget_when_empty(self, backend: Backend, job: MoveJob) -> None:
        while not job.done:
            await asyncio.sleep(0.05)
        if not backend.sessions and backend.state == LEAVING:
            self.pool.remove(backend.id)

    def drain(self, rate_per_s: float) -> None:
        """Stop taking chargers here; close ours with 1012 at the pace so they reconnect elsewhere."""
        self.draining = True
        self.gateway.stop()
        self._spawn(self._drain(rate_per_s))

    async def _drain(self, rate_per_s: float) -> None:
        pacer = Pacer(rate_per_s)
        for session in sorted(self.sessions, key=lambda s: s.connected_at):
            await pacer.take()
            session.close(SERVICE_RESTART, "edge draining")

    def not_ready_reason(self) -> str | None:
        if self.draining:
            return "draining"
        if not self.pool.healthy():
            return "no healthy backend"
        return None

    def stats(self) -> dict[str, Any]:
        return {
            "edge_id": self.config.edge_id,
            "connections": len(self.sessions),
            "ready": self.not_ready_reason() is None,
            "draining": self.draining,
            "backends": self.pool.to_list(),
            "budget_per_s": self.pacer.budget_per_s,
            "processes": self.pacer.processes,
            "moves_per_second": self.mover.moves_per_second.series(),
            "moves": dict(self.mover.results),
            "rehomed_total": self.mover.rehomed_total,
            "orphans_waiting": self.mover.orphans_waiting,
            "held_frames": sum(len(s.held) for s in self.sessions),
            "frames": self.frames(),
            "connects_total": self.metrics.connects_total,
            "connects_per_second": self.metrics.connects_per_second.series(),
            "refused_handshakes": dict(self.metrics.refused),
            "jobs": [job.to_dict() for job in self.mover.jobs],
            "max_chargers": self.gateway.capacity,
        }

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


async def _reachable(backend: Backend) -> bool:
    host, port = backend.address
    try:
        async with asyncio.timeout(1.0):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True
