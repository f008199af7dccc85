"""The OCPP listening socket and the checks made before a WebSocket handshake is accepted.

Replicas behind one port: with --reuse-port every replica binds the same port (SO_REUSEPORT) and
the kernel spreads new connections across the listeners. A replica stops taking new chargers by
closing *its* listening socket (drain, or `POST /admin/listen {"accepting": false}`); its
established connections are untouched. Connections the kernel already queued on that socket but
we had not accept()ed yet would be reset when it closes; with net.ipv4.tcp_migrate_req=1
(Linux 5.14+) the kernel instead moves them to another listener of the same SO_REUSEPORT group,
so a release that closes listeners one by one loses no handshake. We set it when permitted.

Connections between accept and the end of their handshake are capped per replica and per source
address (handshakes.py): one above a cap is closed at once, before a byte is read.

Stopping and restarting the listener creates a fresh websockets server each time over a new
socket on the same port; connections stay with the server object that accepted them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from envctl.charger.protocol import identity
from envctl.charger.server.admission import Admission, Refusal
from envctl.charger.server.auth import BasicAuth
from envctl.charger.server.config import ServerConfig
from envctl.charger.server.handshakes import (
    GRACE_S,
    ON_PROBATION,
    REFUSED_SOURCE,
    HandshakeGate,
    has_sent_bytes,
    source_of,
)
from envctl.charger.server.metrics import Metrics

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
PATH_PREFIX = "/ocpp/"
BACKLOG = 4096
MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req"


def enable_tcp_migrate_req() -> bool:
    """Ask the kernel to migrate queued handshakes off a closing SO_REUSEPORT listener."""
    try:
        with open(MIGRATE_REQ, "w") as f:
            f.write("1")
        return True
    except OSError:  # not root, no such sysctl (older kernel), or a read-only /proc in a container
        return False


def listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def charger_id_from_path(path: str) -> str | None:
    """The charger id of /ocpp/{id}; None when the path is elsewhere or the id breaks the identity grammar."""
    path = path.split("?", 1)[0]
    if not path.startswith(PATH_PREFIX):
        return None
    return identity.from_url_segment(path[len(PATH_PREFIX):])


def offered_subprotocols(headers: Headers) -> list[str]:
    return [p.strip() for value in headers.get_all("Sec-WebSocket-Protocol") for p in value.split(",")]


class _ServerView:
    """What a connection sees of its websockets Server.

    websockets answers 503 to a handshake in progress once its server stops serving. We close the
    listener to stop *new* connections (routing, drain), but a charger whose TCP connection was
    already accepted should finish its handshake; only a full shutdown refuses it.
    """

    __slots__ = ("_server", "_serving")

    def __init__(self, server: Server, serving: Callable[[], bool]) -> None:
        self._server = server
        self._serving = serving

    def is_serving(self) -> bool:
        return self._serving()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class _GatedConnection(ServerConnection):
    """A ServerConnection that holds a slot of the HandshakeGate from accept to the end of its handshake."""

    def __init__(self, *args: Any, gate: HandshakeGate, metrics: Metrics, serving: Callable[[], bool],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server = _ServerView(self.server, serving)  # type: ignore[assignment]
        self._gate = gate
        self._metrics = metrics
        self._source: str | None = None  # set while this connection holds a slot
        self._refused = False
        self._probation: asyncio.TimerHandle | None = None  # above its source's cap: must talk soon

    def connection_made(self, transport: Any) -> None:
        source = source_of(transport.get_extra_info("peername"))
        verdict = self._gate.enter(source)
        if verdict not in (None, ON_PROBATION):
            self._refused = True
            self._metrics.rejected(verdict)
            transport.abort()  # at once: a refused connection must not hold a descriptor
            return
        self._source = source
        super().connection_made(transport)
        if verdict == ON_PROBATION:
            self._probation = asyncio.get_running_loop().call_later(GRACE_S, self._silent, transport)

    def _silent(self, transport: Any) -> None:
        self._probation = None
        if has_sent_bytes(transport) or self._source is None:
            return
        if self._gate.busy(self._source):  # its client is slow, not idle: give it longer
            self._probation = asyncio.get_running_loop().call_later(GRACE_S, self._silent, transport)
            return
        self._metrics.rejected(REFUSED_SOURCE)
        transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._source is not None:  # still in its handshake: its first bytes
            self._gate.talked(self._source)
            if self._probation is not None:
                self._probation.cancel()
                self._probation = None
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:  # it never became a websockets connection
            return
        if self._probation is not None:
            self._probation.cancel()
            self._probation = None
        self._leave_gate()
        super().connection_lost(exc)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().handshake(*args, **kwargs)
        finally:
            self._leave_gate()

    def _leave_gate(self) -> None:
        if self._source is not None:
            self._gate.leave(self._source)
            self._source = None


class Listener:
    def __init__(
        self,
        config: ServerConfig,
        handler: Callable[[ServerConnection], Awaitable[None]],
        metrics: Metrics,
        *,
        auth: BasicAuth | None,
        ssl_context: ssl.SSLContext | None,
        serving: Callable[[], bool],
        admission: Admission | None = None,
    ) -> None:
        self.config = config
        self.handler = handler
        self.metrics = metrics
        self.auth = auth
        self.ssl_context = ssl_context
        self.serving = serving
        self.admission = admission
        self.gate = HandshakeGate.configured(config.max_pending_handshakes, config.max_pending_handshakes_per_source)
        self.port = config.port
        self._server: Server | None = None
        self.servers: list[Server] = []  # every server ever started; shutdown closes them all

    @property
    def accepting(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        sock = listening_socket(self.config.host, self.port, self.config.reuse_port)
        self.port = sock.getsockname()[1]  # a port of 0 becomes concrete; restarts reuse it

        admission, gate, metrics = self.admission, self.gate, self.metrics

        def create_connection(*args: Any, **kwargs: Any) -> ServerConnection:
            # Called once per accepted TCP connection, before a byte of HTTP is read.
            if admission is not None and not admission.admit():
                self.metrics.rejected("admission")
                self.metrics.admission_refused_per_second.add()
                return Refusal(admission.retry_after(), gate, metrics)  # type: ignore[return-value]
            return _GatedConnection(*args, gate=gate, metrics=metrics, serving=self.serving, **kwargs)

        self._server = await serve(
            self.handler,
            sock=sock,
            backlog=BACKLOG,  # asyncio calls listen() again with its own default of 100 otherwise
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            compression=None,  # permessage-deflate costs CPU and ~100 KiB per connection; OCPP frames are small
            max_size=self.config.max_frame_bytes,  # bigger frames: close 1009 (message too big)
            process_request=self._check_handshake,
            ssl=self.ssl_context,
            ping_interval=self.config.ping_interval,
            ping_timeout=self.config.ping_interval,
            close_timeout=5,
            create_connection=create_connection,
            server_header=None,
        )
        self.servers.append(self._server)

    def stop(self) -> None:
        """Close the listening socket; established connections are not touched."""
        if self._server is None:
            return
        self._server.server.close()  # the asyncio.Server: stops accepting, closes the socket
        self._server = None

    def _reject(self, conn: ServerConnection, status: int, reason: str, text: str) -> Response:
        self.metrics.rejected(reason)
        return conn.respond(status, text + "\n")

    async def _check_handshake(self, conn: ServerConnection, request: Request) -> Response | None:
        cid = charger_id_from_path(request.path)
        if cid is None:
            if not request.path.startswith(PATH_PREFIX):
                return self._reject(conn, 404, "path", f"no OCPP endpoint at {request.path[:100]!r}; "
                                    "chargers connect to /ocpp/{chargePointId}")
            return self._reject(conn, 400, "identity", f"the charge point identity in {request.path[:100]!r} is not "
                                f"valid: OCPP identities are {identity.GRAMMAR} (percent-encoded UTF-8)")
        if SUBPROTOCOL not in offered_subprotocols(request.headers):
            return self._reject(
                conn, 400, "subprotocol",
                f"this OCPP 1.6J endpoint requires the WebSocket subprotocol {SUBPROTOCOL!r} "
                "(Sec-WebSocket-Protocol: ocpp1.6)",
            )
        if self.config.allowlist is not None and cid not in self.config.allowlist:
            return self._reject(conn, 404, "unknown", f"charger {cid!r} is not known to this central system")
        if self.auth is not None and not await self.auth.check(cid, request.headers.get("Authorization")):
            response = self._reject(conn, 401, "auth", f"charger {cid!r}: HTTP Basic credentials missing or wrong")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
            return response
        return None
