"""Pending handshakes: connections accepted but not yet a WebSocket, capped per replica and per source.

Every accepted TCP connection costs a file descriptor from the moment it is accepted, and a
client that never finishes its handshake keeps it for the handshake timeout (10 s), then comes
back. With a replica's descriptor limit, 800 idle sockets from one attacker locked real chargers
out (accept() failed with EMFILE, their handshakes timed out in the backlog). So a replica counts
the connections that are between accept and the end of their handshake (`HandshakeGate`), and
refuses one above either cap by closing it at once (RST, before a byte is read): a refusal must
never hold a descriptor itself.

The per-source cap is what stops one attacker; the per-replica cap keeps descriptors for the
chargers already connected, the admin API and the database when many sources join in. Both
default from the descriptor limit (RLIMIT_NOFILE) the process runs with: a quarter of it for
pending handshakes, a quarter of that (at most 1,024) per source. Chargers behind one carrier
NAT share a source address, but a real charger's handshake takes milliseconds, so even a
reconnect storm from behind one NAT keeps few of them pending at a time. IPv6 sources are
counted per /64, the block one subscriber gets. TLS handshakes (wss://) happen before a
connection reaches the gate and are bounded by the same handshake timeout only.
"""

from __future__ import annotations

import ipaddress
import resource
from typing import Any

REPLICA_SHARE = 4  # a quarter of the descriptors may be pending handshakes
SOURCE_SHARE = 4  # a quarter of those from one source
MAX_PER_SOURCE_DEFAULT = 1024
REFUSED_REPLICA = "pending_handshakes"  # metric reasons (rejected handshakes)
REFUSED_SOURCE = "pending_handshakes_source"


def descriptor_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else int(soft)


def default_caps(limit: int) -> tuple[int, int]:
    """(per replica, per source) for a process allowed `limit` open descriptors."""
    per_replica = max(16, limit // REPLICA_SHARE)
    return per_replica, max(4, min(per_replica // SOURCE_SHARE, MAX_PER_SOURCE_DEFAULT))


def source_of(peername: Any) -> str:
    """The address a client is counted under: its IPv4 address, or its IPv6 /64."""
    host = peername[0] if isinstance(peername, tuple) and peername else str(peername)
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return str(host)
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class HandshakeGate:
    __slots__ = ("max_pending", "max_per_source", "pending", "_by_source")

    def __init__(self, max_pending: int, max_per_source: int) -> None:
        self.max_pending = max_pending
        self.max_per_source = max_per_source
        self.pending = 0
        self._by_source: dict[str, int] = {}  # only sources with a pending handshake: bounded by max_pending

    @classmethod
    def configured(cls, max_pending: int, max_per_source: int) -> HandshakeGate:
        """The gate with the given caps; a cap of 0 takes its default from the descriptor limit."""
        default_pending, default_source = default_caps(descriptor_limit())
        pending = max_pending or default_pending
        return cls(pending, max_per_source or min(default_source, pending))

    def enter(self, source: str) -> str | None:
        """Count a new connection from `source`; or the reason it is refused (then nothing is counted)."""
        if self.pending >= self.max_pending:
            return REFUSED_REPLICA
        n = self._by_source.get(source, 0)
        if n >= self.max_per_source:
            return REFUSED_SOURCE
        self._by_source[source] = n + 1
        self.pending += 1
        return None

    def leave(self, source: str) -> None:
        n = self._by_source.get(source, 0) - 1
        if n > 0:
            self._by_source[source] = n
        else:
            self._by_source.pop(source, None)
        self.pending -= 1

    def to_dict(self) -> dict[str, int]:
        return {"pending": self.pending, "sources": len(self._by_source), "max_pending": self.max_pending,
                "max_per_source": self.max_per_source}
