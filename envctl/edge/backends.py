"""The pool of versioned backends an edge process forwards chargers to.

A backend is a base WebSocket URL (`ws://10.0.0.7:9000`), an id and a version label. The charger's
own path is appended to the base, so one backend serves `/ocpp/{id}` exactly as the charger asked.

States:
    up        takes new chargers and moved ones
    leaving   removal asked: its chargers are being moved away; takes none
    down      one of its upstreams ended without the edge asking (kill -9, crash, reset): takes
              none until a TCP connect to it succeeds again (the prober, app.py)

Connection counts are the edge's own: sessions whose current upstream is on that backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from envctl.errors import ConfigError

UP, LEAVING, DOWN = "up", "leaving", "down"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(eq=False)
class Backend:
    id: str
    url: str  # ws:// or wss:// base, no trailing slash
    version: str = "unknown"
    state: str = UP
    connections: int = 0
    sessions: set[Any] = field(default_factory=set)  # the Sessions whose current upstream is here

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "wss" else 80)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "version": self.version, "state": self.state,
                "connections": len(self.sessions)}


def parse_backend(spec: str) -> Backend:
    """`ID=ws://HOST:PORT[@VERSION]` (the --backend flag and POST /admin/backends share it)."""
    ident, sep, rest = spec.partition("=")
    if not sep:
        raise ConfigError(f"backend {spec!r} is not ID=ws://HOST:PORT[@VERSION]", hint="e.g. b1=ws://127.0.0.1:9001@v1")
    url, _, version = rest.partition("@")
    return make_backend(ident, url, version or "unknown")


def make_backend(ident: str, url: str, version: str = "unknown") -> Backend:
    if not _ID.match(ident):
        raise ConfigError(f"backend id {ident!r} must be 1-63 letters, digits, '.', '_' or '-'")
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"backend {ident}: {url!r} is not a ws:// or wss:// base URL without a path",
                          hint="the charger's own path (/ocpp/{id}) is appended to it")
    return Backend(ident, url.rstrip("/"), version)


class Pool:
    def __init__(self) -> None:
        self.backends: dict[str, Backend] = {}

    def add(self, backend: Backend) -> None:
        if backend.id in self.backends:
            raise ConfigError(f"backend {backend.id!r} is already in the pool")
        self.backends[backend.id] = backend

    def get(self, ident: str) -> Backend | None:
        return self.backends.get(ident)

    def remove(self, ident: str) -> None:
        self.backends.pop(ident, None)

    def healthy(self, among: set[str] | None = None) -> list[Backend]:
        return [b for b in self.backends.values() if b.state == UP and (among is None or b.id in among)]

    def pick(self, among: set[str] | None = None, avoid: Backend | None = None) -> Backend | None:
        """The healthy backend with the fewest chargers (ties: the first added); `avoid` only if
        it is the one healthy backend left (a backend that restarted takes its chargers back)."""
        healthy = self.healthy(among)
        candidates = [b for b in healthy if b is not avoid] or healthy
        return min(candidates, key=lambda b: len(b.sessions), default=None)

    def to_list(self) -> list[dict[str, Any]]:
        return [b.to_dict() for b in self.backends.values()]
