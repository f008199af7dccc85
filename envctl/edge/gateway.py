"""The charger-facing side: the listening socket and the handshake that asks the backend first.

A charger is accepted only when a backend accepted it: `process_request` (async in `websockets`)
opens the upstream with the charger's path, subprotocols and Authorization *before* answering
the charger, and answers with the backend's own status when the backend refuses (a 401 for a
wrong password reaches the charger as a 401, with the backend's WWW-Authenticate). The
subprotocol the backend chose is the one the charger gets. picows decides a handshake in a
synchronous callback and could not do this (docs/edge.md).

Descriptors: each charger costs two sockets (three while it moves), so a process admits at most
(RLIMIT_NOFILE - reserve) / 2 chargers and refuses the next with 503 + Retry-After: the kernel
spreads it to another edge process on the same port when the charger retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from envctl.charger.server.listener import BACKLOG, listening_socket, offered_subprotocols
from envctl.edge.backends import Backend
from envctl.edge.upstream import HandshakeFacts, Refused, Unreachable

if TYPE_CHECKING:
    from envctl.edge.app import Edge

RESERVED_FDS = 2 * 128 + 256  # moves in flight (a third socket each), admin, logs, probes
HANDSHAKE_REAP_S = 15.0
DESCRIPTOR_GOAL = 20_000


def raise_descriptor_limit(goal: int = DESCRIPTOR_GOAL) -> int:
    """Lift the soft RLIMIT_NOFILE towards `goal` (never above the hard limit); the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = goal if hard == resource.RLIM_INFINITY else min(goal, hard)
    if want > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def max_chargers(limit: int) -> int:
    return max(0, (limit - RESERVED_FDS) // 2)


def client_subject(conn: ServerConnection) -> str | None:
    """The TLS client certificate's subject as 'CN=...,O=...' (RFC 4514 order), if one was shown."""
    cert = conn.transport.get_extra_info("peercert") if conn.transport is not None else None
    if not cert:
        return None
    rdns = [f"{k}={v}" for rdn in reversed(cert.get("subject", ())) for k, v in rdn]
    names = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
             "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST"}
    out = []
    for item in rdns:
        key, _, value = item.partition("=")
        out.append(f"{names.get(key, key)}={value}")
    return ",".join(out) or None


class Gateway:
    def __init__(self, edge: Edge, handler: Callable[[ServerConnection], Awaitable[None]],
                 ssl_context: ssl.SSLContext | None) -> None:
        self.edge = edge
        self.handler = handler
        self.ssl_context = ssl_context
        self.port = edge.config.port
        self._server: Server | None = None
        self.pending: dict[ServerConnection, tuple[ClientConnection, Backend, HandshakeFacts]] = {}
        self.limit = raise_descriptor_limit()
        self.capacity = max_chargers(self.limit)

    @property
    def accepting(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        cfg = self.edge.config
        sock = listening_socket(cfg.host, cfg.port, cfg.reuse_port)
        self.port = sock.getsockname()[1]
        self._server = await serve(
            self.handler,
            sock=sock,
            backlog=BACKLOG,
            process_request=self._handshake,
            select_subprotocol=self._subprotocol,
            compression=None,
            max_size=cfg.max_frame_bytes,
            ssl=self.ssl_context,
            ping_interval=cfg.ping_interval,
            ping_timeout=cfg.ping_interval,
            close_timeout=5,
            server_header=None,
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.server.close()
            self._server = None

    def take(self, conn: ServerConnection) -> tuple[ClientConnection, Backend, HandshakeFacts] | None:
        return self.pending.pop(conn, None)

    def _subprotocol(self, conn: ServerConnection, offered: Any) -> Any:
        entry = self.pending.get(conn)
        return entry[0].subprotocol if entry is not None else None

    def _refuse(self, conn: ServerConnection, reason: str, status: int, text: str, retry_after: int | None = None) -> Response:
        self.edge.metrics.refuse(reason)
        response = conn.respond(status, text + "\n")
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def _handshake(self, conn: ServerConnection, request: Request) -> Response | None:
        edge = self.edge
        if not request.path.startswith("/"):
            return self._refuse(conn, "path", 404, f"no endpoint at {request.path}")
        if edge.draining:
            return self._refuse(conn, "draining", 503, "this edge process is draining; connect again", 1)
        if len(edge.sessions) + len(self.pending) >= self.capacity:
            return self._refuse(conn, "capacity", 503, "this edge process is full; connect again", 1)
        remote = conn.remote_address[0] if conn.remote_address else None
        facts = HandshakeFacts(request.path, tuple(offered_subprotocols(request.headers)),
                               request.headers.get("Authorization"), client_subject(conn), remote)
        tried: set[str] = set()
        while True:
            backend = edge.pool.pick(avoid=None, among=None if not tried else set(edge.pool.backends) - tried)
            if backend is None:
                if tried:
                    return self._refuse(conn, "backend_unreachable", 502, "no backend could be reached; connect again", 5)
                return self._refuse(conn, "no_backend", 503, "no healthy backend behind this edge; connect again", 5)
            tried.add(backend.id)
            try:
                up = await edge.open_upstream(backend, facts, first=True)
                break
            except Refused as refused:
                # The backend judged the charger (credentials, unknown id, overload): its answer.
                edge.metrics.refuse("backend_status")
                response = conn.respond(refused.status, refused.body.decode("utf-8", "replace"))
                for key, value in refused.headers:
                    response.headers[key] = value
                return response
            except Unreachable:
                edge.mark_down(backend)
        facts = HandshakeFacts(facts.path, facts.offered, facts.authorization, facts.client_subject,
                               facts.forwarded_for, up.subprotocol)
        self.pending[conn] = (up, backend, facts)
        asyncio.get_running_loop().call_later(HANDSHAKE_REAP_S, self._reap, conn)
        return None

    def _reap(self, conn: ServerConnection) -> None:
        """The charger's handshake never completed (it left mid-handshake): drop its upstream."""
        entry = self.pending.pop(conn, None)
        if entry is not None:
            asyncio.ensure_future(entry[0].close(1001, "charger left during the handshake"))
