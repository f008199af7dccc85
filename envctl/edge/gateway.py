"""The charger-facing side: the listening socket and the handshake that asks the backend first.

A charger is accepted only when a backend accepted it: the handshake (websockets' Sans-I/O
server, charger_side.py) waits for `_decide`, which opens the upstream with the charger's path, subprotocols and Authorization *before* answering
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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.http11 import Request, Response

from envctl.charger.server.listener import (
    BACKLOG,
    listening_socket,
    offered_subprotocols,
)
from envctl.edge.charger_side import ChargerHop, Decision
from envctl.edge.upstream import HandshakeFacts, Refused, Unreachable

if TYPE_CHECKING:
    from envctl.edge.app import Edge

RESERVED_FDS = 2 * 128 + 256  # moves in flight (a third socket each), admin, logs, probes
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


def client_subject(transport: Any) -> str | None:
    """The TLS client certificate's subject as 'CN=...,O=...' (RFC 4514 order), if one was shown."""
    cert = transport.get_extra_info("peercert") if transport is not None else None
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
    def __init__(self, edge: Edge, on_open: Callable[[ChargerHop], None], ssl_context: ssl.SSLContext | None) -> None:
        self.edge = edge
        self.on_open = on_open
        self.ssl_context = ssl_context
        self.port = edge.config.port
        self._server: asyncio.Server | None = None
        self.handshaking = 0
        self.limit = raise_descriptor_limit()
        self.capacity = max_chargers(self.limit)

    @property
    def accepting(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        cfg = self.edge.config
        sock = listening_socket(cfg.host, cfg.port, cfg.reuse_port)
        self.port = sock.getsockname()[1]
        max_size = cfg.max_frame_bytes
        self._server = await asyncio.get_running_loop().create_server(
            lambda: ChargerHop(self._handshake, self.on_open, max_size),
            sock=sock, backlog=BACKLOG, ssl=self.ssl_context,
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _refuse(self, hop: ChargerHop, reason: str, status: int, text: str, retry_after: int | None = None) -> Response:
        self.edge.metrics.refuse(reason)
        response = hop.ws.reject(status, text + "\n")
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def _handshake(self, hop: ChargerHop, request: Request) -> Decision:
        self.handshaking += 1
        try:
            return await self._decide(hop, request)
        finally:
            self.handshaking -= 1

    async def _decide(self, hop: ChargerHop, request: Request) -> Decision:
        edge = self.edge
        if not request.path.startswith("/"):
            return self._refuse(hop, "path", 404, f"no endpoint at {request.path}")
        if edge.draining:
            return self._refuse(hop, "draining", 503, "this edge process is draining; connect again", 1)
        if len(edge.sessions) + self.handshaking > self.capacity:
            return self._refuse(hop, "capacity", 503, "this edge process is full; connect again", 1)
        peer = hop.transport.get_extra_info("peername")
        facts = HandshakeFacts(request.path, tuple(offered_subprotocols(request.headers)),
                               request.headers.get("Authorization"), client_subject(hop.transport),
                               peer[0] if peer else None)
        tried: set[str] = set()
        while True:
            backend = edge.pool.pick(among=set(edge.pool.backends) - tried if tried else None)
            if backend is None:
                if tried:
                    return self._refuse(hop, "backend_unreachable", 502, "no backend could be reached; connect again", 5)
                return self._refuse(hop, "no_backend", 503, "no healthy backend behind this edge; connect again", 5)
            tried.add(backend.id)
            try:
                up = await edge.open_upstream(backend, facts, first=True)
                break
            except Refused as refused:
                # The backend judged the charger (credentials, unknown id, overload): its answer.
                edge.metrics.refuse("backend_status")
                response = hop.ws.reject(refused.status, refused.body.decode("utf-8", "replace"))
                for key, value in refused.headers:
                    response.headers[key] = value
                return response
            except Unreachable:
                edge.mark_down(backend)
        hop.context = (up, backend, HandshakeFacts(facts.path, facts.offered, facts.authorization,
                                                   facts.client_subject, facts.forwarded_for, up.subprotocol))
        return up.subprotocol
