"""Open one upstream WebSocket for a charger, carrying what the charger's handshake said.

The charger's path, its subprotocol (the list it offered on first connect; the one already agreed
on a move) and its Authorization header go to the backend unchanged; with a TLS client certificate
its subject goes as `X-Client-Cert-Subject` (the backend sits behind the edge on a private
network and trusts the edge for it; the edge never forwards that header from a charger). The
charger's address goes as `X-Forwarded-For`.

A backend that answers the handshake with an HTTP status (401, 403, 404, 503...) raises Refused
carrying that status, the headers a client acts on and the body, so the edge can give the charger
the backend's own answer. A backend that cannot be reached or does not answer in time raises
Unreachable.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake
from websockets.frames import Frame
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

from envctl.edge.backends import Backend
from envctl.edge.hop import Hop
from envctl.edge.wire import encode

CERT_SUBJECT_HEADER = "X-Client-Cert-Subject"
PASSED_BACK_HEADERS = ("www-authenticate", "retry-after")  # what a client acts on; compared lower-case


@dataclass(frozen=True)
class HandshakeFacts:
    """What the charger's handshake said that the backend must also hear."""

    path: str  # with the query string, exactly as the charger sent it
    offered: tuple[str, ...]  # subprotocols the charger offered, in its order
    authorization: str | None = None
    client_subject: str | None = None
    forwarded_for: str | None = None
    subprotocol: str | None = None  # the one agreed on first connect; a move asks for only this one

    def headers(self) -> list[tuple[str, str]]:
        out = []
        if self.authorization is not None:
            out.append(("Authorization", self.authorization))
        if self.client_subject is not None:
            out.append((CERT_SUBJECT_HEADER, self.client_subject))
        if self.forwarded_for is not None:
            out.append(("X-Forwarded-For", self.forwarded_for))
        return out


class UpstreamError(Exception):
    pass


@dataclass
class Refused(UpstreamError):
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"backend answered the handshake with HTTP {self.status}"


class Unreachable(UpstreamError):
    pass


@dataclass
class UpstreamSettings:
    open_timeout: float = 5.0
    max_size: int = 65536
    ssl_context: ssl.SSLContext | None = None  # for wss:// backends; None: the system's defaults


class UpstreamHop(Hop):
    """The edge's client connection to a backend: websockets' Sans-I/O client for the handshake."""

    is_client = True

    def __init__(self, uri: WebSocketURI, protocols: list[str], facts: HandshakeFacts, max_size: int) -> None:
        super().__init__(max_size)
        self.ws = ClientProtocol(uri, subprotocols=[Subprotocol(p) for p in protocols] or None, max_size=max_size)
        self.request = self.ws.connect()
        for key, value in facts.headers():
            self.request.headers[key] = value
        self.opened: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.subprotocol: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.ws.send_request(self.request)
        for chunk in self.ws.data_to_send():
            self.transport.write(chunk)

    def handshake_data(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response) and not self.opened.done():
                self.opened.set_result(event)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.ws.receive_eof()
            for event in self.ws.events_received():
                if isinstance(event, Response):
                    self.opened.set_result(event)
                    break
            else:
                self.opened.set_exception(ConnectionError("the backend closed the connection during the handshake"))
        super().connection_lost(exc)


async def open_upstream(backend: Backend, facts: HandshakeFacts, settings: UpstreamSettings,
                        *, first: bool) -> UpstreamHop:
    """Connect to `backend` as the charger would have; `first`: offer the charger's whole list."""
    protocols = list(facts.offered) if first else ([facts.subprotocol] if facts.subprotocol else [])
    uri = parse_uri(backend.url + facts.path)
    loop = asyncio.get_running_loop()
    hop: UpstreamHop | None = None
    try:
        async with asyncio.timeout(settings.open_timeout):
            _, hop = await loop.create_connection(
                lambda: UpstreamHop(uri, protocols, facts, settings.max_size), uri.host, uri.port,
                ssl=(settings.ssl_context or ssl.create_default_context()) if uri.secure else None,
            )
            response = await hop.opened
    except (OSError, TimeoutError, ConnectionError, InvalidHandshake) as exc:
        if hop is not None and hop.transport is not None:
            hop.transport.abort()
        raise Unreachable(f"{backend.id} ({backend.url}): {exc or type(exc).__name__}") from None
    if response.status_code != 101:
        kept = [(k, v) for k, v in response.headers.raw_items() if k.lower() in PASSED_BACK_HEADERS]
        hop.transport.close()
        raise Refused(response.status_code, bytes(response.body or b""), kept)
    if hop.ws.handshake_exc is not None:
        hop.transport.abort()
        raise Refused(502, f"the backend's handshake was not valid: {hop.ws.handshake_exc}\n".encode())
    hop.subprotocol = hop.ws.subprotocol
    if not first and hop.subprotocol != facts.subprotocol:
        hop.transport.abort()
        raise Refused(400, b"the backend did not agree the charger's subprotocol\n")
    # Frames the backend sent right behind its 101 were parsed by the Sans-I/O protocol already.
    leftover = [ev for ev in hop.ws.events_received() if isinstance(ev, Frame)]
    hop.open_data_path()
    for frame in leftover:
        hop.data_received(encode(frame.opcode.value, bytes(frame.data), mask=False))
    return hop
