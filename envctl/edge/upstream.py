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

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from envctl.edge.backends import Backend

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
    ping_interval: float | None = 60.0
    max_size: int = 65536
    ssl_context: ssl.SSLContext | None = None  # for wss:// backends; None: the system's defaults


async def open_upstream(backend: Backend, facts: HandshakeFacts, settings: UpstreamSettings,
                        *, first: bool) -> ClientConnection:
    """Connect to `backend` as the charger would have; `first`: offer the charger's whole list."""
    protocols = list(facts.offered) if first else ([facts.subprotocol] if facts.subprotocol else [])
    url = backend.url + facts.path
    try:
        up = await connect(
            url,
            subprotocols=protocols or None,  # type: ignore[arg-type]
            additional_headers=facts.headers(),
            open_timeout=settings.open_timeout,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_interval,
            close_timeout=5,
            max_size=settings.max_size,
            compression=None,  # as the server: OCPP frames are small, deflate costs CPU and memory
            user_agent_header=None,
            ssl=settings.ssl_context if url.startswith("wss://") else None,
        )
    except InvalidStatus as exc:
        resp = exc.response
        kept = [(k, v) for k, v in resp.headers.raw_items() if k.lower() in PASSED_BACK_HEADERS]
        raise Refused(resp.status_code, bytes(resp.body or b""), kept) from None
    except (OSError, asyncio.TimeoutError, InvalidHandshake) as exc:
        raise Unreachable(f"{backend.id} ({backend.url}): {exc or type(exc).__name__}") from None
    if not first and up.subprotocol != facts.subprotocol:
        await up.close(1002, "subprotocol not agreed")
        raise Refused(400, b"the backend did not agree the charger's subprotocol\n")
    return up
